"""The GPU catalogue: every accelerator clouds rent for inference, under SkyPilot's names.

Names are spelled exactly as SkyPilot's catalogue spells them (`catalogs/v8/common/accelerators.csv`
and the per-cloud fetchers in `sky/catalog/data_fetchers/`), because the name we keep is the name we
pass to `sky.Resources(accelerators=...)`. Where two clouds spell one part differently (Lambda's `A6000`,
RunPod's `RTXA6000`), both spellings are listed: SkyPilot matches names per cloud.

Memory is what the engines see (`torch.cuda.mem_get_info` total), in GiB: an "80GB" part shows about
79.2 GiB, an L4 about 22.5 GiB. Prices are indicative on-demand $/GPU-hour, used only when no live
price is available (core.pricing marks them as estimates).

Not in the catalogue on purpose: parts below compute capability 7.0 (K80, M60, P4, P100: vLLM and
SGLang do not run on them), TPUs, Gaudi, Inferentia/Trainium and desktop cards below 24 GB.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

from core.echo import shown
from core.errors import InvalidRequest


@dataclass(frozen=True)
class GpuSpec:
    """One accelerator model."""

    name: str  # SkyPilot's spelling, e.g. "A100-80GB"
    vendor: Literal["nvidia", "amd"]
    memory_gib: float  # usable memory as the engines see it (torch.cuda.mem_get_info total), GiB
    compute_capability: float | None  # NVIDIA SM version (8.0, 8.9, 9.0, 10.0); None for AMD
    arch: str  # "ampere", "ada", "hopper", "blackwell", "turing", "volta", "cdna3", ...
    gpus_per_node: int  # largest count one node of this type offers (8 for most data-centre parts)
    price_per_gpu_hour: float  # indicative on-demand $/GPU-hour, used when no live price is available
    fp8_native: bool = False  # hardware FP8 (Ada/Hopper/Blackwell/CDNA3+)


@dataclass(frozen=True)
class AcceleratorRequest:
    """`NAME:COUNT` resolved against the catalogue. A count above one node means several nodes.

    A spelling that means several catalogue names (`H100-SXM5`: SkyPilot's `H100` on AWS/GCP, `H100-SXM`
    on RunPod and others) keeps them all: `gpu` is the one the fit check sizes (they are the same part),
    `alternatives` the others the launch may also use.
    """

    gpu: GpuSpec
    count: int  # total GPUs across all nodes
    alternatives: tuple[GpuSpec, ...] = ()  # other catalogue names for the same part, any of them will do
    spelled: str = field(default="", compare=False)  # the name as the user typed it, for messages

    @property
    def names(self) -> tuple[str, ...]:
        """Every catalogue name the launch may use, the sized one first."""
        return (self.gpu.name, *(alt.name for alt in self.alternatives))

    @property
    def nodes(self) -> int:
        return -(-self.count // self.gpu.gpus_per_node)

    @property
    def gpus_per_node(self) -> int:
        return self.count // self.nodes

    @property
    def per_node_spec(self) -> str:
        """What SkyPilot's `accelerators=` takes (per node): `A100-80GB:8`."""
        return f"{self.gpu.name}:{self.gpus_per_node}"

    @property
    def per_node_specs(self) -> list[str]:
        """One `NAME:N` per acceptable catalogue name: a launch on any of them (`LaunchSpec.accelerators`)."""
        return [f"{name}:{self.gpus_per_node}" for name in self.names]

    def __str__(self) -> str:
        """`H100:8`, or `H100,H100-SXM:8` when several names will do (parse_accelerators reads it back)."""
        return f"{','.join(self.names)}:{self.count}"


def _nvidia(
    name: str, memory_gib: float, cc: float, arch: str, price: float, *, per_node: int = 8
) -> GpuSpec:
    # Hardware FP8 arrived with Ada (8.9); Hopper and Blackwell keep it.
    return GpuSpec(name, "nvidia", memory_gib, cc, arch, per_node, price, fp8_native=cc >= 8.9)


def _amd(name: str, memory_gib: float, arch: str, price: float, *, per_node: int = 8) -> GpuSpec:
    # CDNA3 (MI300 family) and later have FP8; CDNA2 (MI250X) does not.
    return GpuSpec(name, "amd", memory_gib, None, arch, per_node, price, fp8_native=arch != "cdna2")


# gpus_per_node: the largest node SkyPilot's catalogues offer, except that 8 is used where a
# marketplace lists odd pods of 9 or 10 GPUs (RunPod): no model's head count divides by 9 or 10
# in practice, and 8-GPU nodes of those types exist everywhere they are sold.
_SPECS: tuple[GpuSpec, ...] = (
    # --- NVIDIA Turing / Volta ----------------------------------------------------------------
    _nvidia("T4", 14.6, 7.5, "turing", 0.35),
    _nvidia("V100", 15.8, 7.0, "volta", 2.55),
    _nvidia("V100-32GB", 31.7, 7.0, "volta", 3.90),
    # --- NVIDIA Ampere ------------------------------------------------------------------------
    _nvidia("A10", 22.5, 8.6, "ampere", 0.75, per_node=4),
    _nvidia("A10G", 22.5, 8.6, "ampere", 1.01),
    _nvidia("A30", 23.5, 8.0, "ampere", 0.90),
    _nvidia("A40", 44.5, 8.6, "ampere", 0.45),
    _nvidia("A6000", 47.5, 8.6, "ampere", 0.80),  # RTX A6000 as Lambda/PrimeIntellect spell it
    _nvidia("RTXA6000", 47.5, 8.6, "ampere", 0.49),  # the same card as RunPod/Vast/Cudo spell it
    _nvidia("RTXA5000", 23.5, 8.6, "ampere", 0.27),  # RunPod/Fluidstack spelling (no hyphen in RTX names)
    _nvidia("RTX3090", 23.5, 8.6, "ampere", 0.43),  # RunPod/Fluidstack/Vast
    _nvidia("RTX3090-Ti", 23.5, 8.6, "ampere", 0.47),  # RunPod
    # GCP's a2-megagpu-16g carries sixteen 40 GB A100s in one VM.
    _nvidia("A100", 39.4, 8.0, "ampere", 3.67, per_node=16),
    _nvidia("A100-80GB", 79.2, 8.0, "ampere", 5.00),
    _nvidia("A100-80GB-SXM", 79.2, 8.0, "ampere", 1.89),  # RunPod's SXM spelling
    _nvidia("A800", 79.2, 8.0, "ampere", 1.50),
    # --- NVIDIA Ada ---------------------------------------------------------------------------
    _nvidia("L4", 22.5, 8.9, "ada", 0.80),
    _nvidia("L40", 44.5, 8.9, "ada", 1.00),
    _nvidia("L40S", 44.5, 8.9, "ada", 1.20),
    _nvidia("RTX4090", 23.5, 8.9, "ada", 0.69),
    _nvidia("RTX5000-Ada", 31.5, 8.9, "ada", 0.77),  # RunPod spelling
    _nvidia("RTX6000-Ada", 47.5, 8.9, "ada", 0.77),  # RunPod/Vast spelling
    _nvidia("RTX6000Ada", 47.5, 8.9, "ada", 0.77),  # PrimeIntellect/Shadeform spelling
    # --- NVIDIA Hopper ------------------------------------------------------------------------
    _nvidia("H100", 79.2, 9.0, "hopper", 4.00),
    _nvidia("H100-SXM", 79.2, 9.0, "hopper", 2.69),
    _nvidia("H100-NVLINK", 79.2, 9.0, "hopper", 2.89),
    _nvidia("H100-MEGA", 79.2, 9.0, "hopper", 11.00),  # GCP a3-megagpu-8g, sold only as 8
    _nvidia("H100-NVL", 93.1, 9.0, "hopper", 2.79),
    _nvidia("H20", 95.0, 9.0, "hopper", 1.50),
    _nvidia("GH200", 94.5, 9.0, "hopper", 1.49, per_node=1),  # Lambda: one superchip per VM
    _nvidia("H200", 139.8, 9.0, "hopper", 4.50),
    _nvidia("H200-SXM", 139.8, 9.0, "hopper", 3.99),
    _nvidia("NVIDIA-H200-NVL", 139.8, 9.0, "hopper", 3.39),
    # --- NVIDIA Blackwell ---------------------------------------------------------------------
    _nvidia("B200", 178.4, 10.0, "blackwell", 6.00),
    _nvidia("GB200", 184.0, 10.0, "blackwell", 6.50, per_node=4),  # NVL72 compute tray: 4 GPUs
    _nvidia("B300", 268.0, 10.3, "blackwell", 7.00),
    _nvidia("GB300", 268.0, 10.3, "blackwell", 8.00, per_node=4),
    _nvidia("RTXPRO6000", 94.6, 12.0, "blackwell", 1.80),
    _nvidia("RTX5090", 31.4, 12.0, "blackwell", 0.89),
    # --- AMD Instinct -------------------------------------------------------------------------
    _amd("MI250X", 63.9, "cdna2", 1.50),  # each of the two dies is one 64 GB device
    _amd("MI300X", 191.5, "cdna3", 2.49),
    _amd("MI325X", 255.5, "cdna3", 2.75),
    _amd("MI355X", 287.5, "cdna4", 3.50),
)

CATALOG: dict[str, GpuSpec] = {spec.name: spec for spec in _SPECS}

# Case-insensitive index: lookups stay O(1) on the fit check's hot path.
_BY_LOWER: dict[str, GpuSpec] = {name.lower(): spec for name, spec in CATALOG.items()}

# --- spellings people type ------------------------------------------------------------------------
# Vendors, clouds and people write GPU names many ways (`A100-40GB`, `H100-SXM5`, `RTX-3090`, `L40S-48GB`);
# SkyPilot matches only its own catalogue names. A spelling is resolved, in order, by: the catalogue name
# itself; the table below (form factors: SkyPilot's AWS/GCP/Azure `A100-80GB` and `H100` are SXM parts,
# RunPod and others list SXM separately, see sky/catalog/data_fetchers/fetch_runpod.py and
# fetch_fluidstack.py); the name without case, `-`, `_` and a `NVIDIA`/`Tesla`/`GeForce` prefix; and
# a trailing memory size (`-40GB`, `-48G`) that matches the part. A spelling that means several catalogue
# names resolves to all of them; they must be the same silicon (checked below).
_ALIASES: dict[str, tuple[str, ...]] = {
    "a100-sxm4": ("A100",),
    "a100-pcie": ("A100",),
    "a100-80gb-sxm4": ("A100-80GB", "A100-80GB-SXM"),
    "a100-sxm4-80gb": ("A100-80GB", "A100-80GB-SXM"),
    "a100-sxm-80gb": ("A100-80GB", "A100-80GB-SXM"),
    "a100-80gb-pcie": ("A100-80GB",),  # RunPod and Fluidstack list the PCIe part as A100-80GB
    "a100-pcie-80gb": ("A100-80GB",),
    "h100-sxm5": ("H100", "H100-SXM"),
    "h100-sxm5-80gb": ("H100", "H100-SXM"),
    "h100-80gb-sxm5": ("H100", "H100-SXM"),
    "h100-80gb-sxm": ("H100", "H100-SXM"),
    "h100-sxm-80gb": ("H100", "H100-SXM"),
    "h100-pcie": ("H100",),  # RunPod's `H100-PCIe` and Fluidstack's `H100_PCIE_80GB` are both `H100`
    "h100-pcie-80gb": ("H100",),
    "h100-80gb-pcie": ("H100",),
    "h200-sxm5": ("H200", "H200-SXM"),
    "h200-141gb-sxm": ("H200", "H200-SXM"),
    "rtx-a6000": ("A6000", "RTXA6000"),  # Lambda's and RunPod's names for the RTX A6000
    "rtx-a6000-48gb": ("A6000", "RTXA6000"),
}

_NOISE = re.compile(r"[-_\s.]")
_VENDOR_PREFIX = re.compile(r"^(?:nvidia|tesla|geforce|amd|instinct)+")
_MEMORY_SUFFIX = re.compile(r"(?P<base>.+?)[-_]?(?P<gb>\d{2,3})\s*gi?b?", re.IGNORECASE)


def _squash(name: str) -> str:
    """`NVIDIA-H200-NVL` -> `h200nvl`, `RTX-3090` -> `rtx3090`: the name without decoration."""
    return _VENDOR_PREFIX.sub("", _NOISE.sub("", name.lower()))


_BY_SQUASHED: dict[str, tuple[GpuSpec, ...]] = {}
for _spec in _SPECS:
    _BY_SQUASHED[_squash(_spec.name)] = (*_BY_SQUASHED.get(_squash(_spec.name), ()), _spec)


def _same_part(specs: tuple[GpuSpec, ...]) -> bool:
    first = specs[0]
    return all(
        (s.vendor, s.memory_gib, s.compute_capability, s.arch) ==
        (first.vendor, first.memory_gib, first.compute_capability, first.arch)
        for s in specs
    )  # fmt: skip


for _alias, _names in _ALIASES.items():
    assert _same_part(tuple(CATALOG[n] for n in _names)), f"alias {_alias} mixes different parts"
for _group in _BY_SQUASHED.values():
    assert _same_part(_group), f"{[g.name for g in _group]} share a spelling but differ"


def _memory_matches(spec: GpuSpec, gb: int) -> bool:
    """A marketing size (`40GB`, decimal or binary) that fits what the part exposes to the engines."""
    return 0.91 * gb * 1e9 / 2**30 <= spec.memory_gib <= 1.01 * gb


def _resolve_plain(lowered: str) -> tuple[GpuSpec, ...]:
    exact = _BY_LOWER.get(lowered)
    if exact is not None:
        return (exact,)
    if lowered in _ALIASES:
        return tuple(CATALOG[n] for n in _ALIASES[lowered])
    squashed = _squash(lowered)
    if squashed.isdigit():  # "3090", "4090": the GeForce cards
        squashed = f"rtx{squashed}"
    return _BY_SQUASHED.get(squashed, ())


def resolve_gpus(name: str) -> tuple[GpuSpec, ...]:
    """Every catalogue entry a typed GPU name means (empty: none). The first is SkyPilot's exact match
    when there is one, else the first of the group as listed."""
    lowered = name.strip().lower()
    found = _resolve_plain(lowered)
    if found:
        return found
    sized = _MEMORY_SUFFIX.fullmatch(lowered)
    if sized is None:
        return ()
    base, gb = sized["base"].rstrip("-_"), int(sized["gb"])
    matching = tuple(spec for spec in _resolve_plain(base) if _memory_matches(spec, gb))
    if matching:
        return matching
    # `A100-80G` -> the catalogue's `A100-80GB`.
    return tuple(spec for spec in _resolve_plain(f"{base}-{gb}gb") if _memory_matches(spec, gb))


# The largest cluster the bot will ask for; beyond it a request is almost certainly a typo.
MAX_NODES = 64

_COUNT = re.compile(r"[0-9]+")


def _closest_names(name: str, *, limit: int = 4) -> list[str]:
    lowered = name.lower()
    matches = difflib.get_close_matches(lowered, list(_BY_LOWER), n=limit, cutoff=0.5)
    # A prefix match ("h10" -> H100...) helps where difflib's ratio is low for short names.
    prefixed = [low for low in _BY_LOWER if lowered and low.startswith(lowered)]
    # "H100-80GB", "A100-40GB": the family name before the suffix is usually what was meant.
    family = lowered.split("-", 1)[0]
    first = [family] if family != lowered and family in _BY_LOWER else []
    ordered = list(dict.fromkeys([*first, *matches, *prefixed]))[:limit]
    return [_BY_LOWER[low].name for low in ordered]


def get_gpu(name: str) -> GpuSpec:
    """Look a GPU up by name or a common spelling of it; unknown names raise InvalidRequest with close
    matches. A spelling that means several catalogue names gives the first (`resolve_gpus` gives all)."""
    return _known_gpus(name)[0]


def _known_gpus(name: str) -> tuple[GpuSpec, ...]:
    found = resolve_gpus(name)
    if found:
        return found
    close = _closest_names(name.strip())
    hint = f"Closest known names: {', '.join(close)}." if close else f"Known GPUs: {', '.join(CATALOG)}."
    raise InvalidRequest(f"Unknown GPU `{shown(name.strip())}`. {hint}")


def _node_split_hint(gpu: GpuSpec, count: int) -> str:
    per_node = gpu.gpus_per_node
    below = (count // per_node) * per_node
    above = below + per_node
    options = [
        f"`{gpu.name}:{n}` ({n // per_node} node{'s' if n // per_node > 1 else ''})"
        for n in (below, above)
        if n > 0
    ]
    return " or ".join(options)


def _gpus_of(names_text: str) -> tuple[GpuSpec, ...]:
    """The catalogue entries for `NAME` or `NAME,NAME,...` (any of them), de-duplicated, in order."""
    specs: list[GpuSpec] = []
    for part in names_text.split(","):
        if not part.strip():
            raise InvalidRequest(
                f"`{names_text}` has an empty GPU name; list acceptable names like `H100,H100-SXM:8`."
            )
        specs += [spec for spec in _known_gpus(part) if spec not in specs]
    if not _same_part(tuple(specs)):
        listed = ", ".join(f"{s.name} ({s.memory_gib:g} GiB, {s.arch})" for s in specs)
        raise InvalidRequest(
            f"`{names_text}` lists different GPUs: {listed}. The fit check sizes one kind of GPU; ask for "
            "one (or several names of the same part, like `H100,H100-SXM`)."
        )
    return tuple(specs)


def parse_accelerators(text: str) -> AcceleratorRequest:
    """Parse `NAME[:COUNT]` (case-insensitive, COUNT defaults to 1). NAME is SkyPilot's catalogue name or
    a common spelling of it (`A100-40GB`, `RTX-3090`); a spelling, or a comma list like
    `H100,H100-SXM`, that means several catalogue names of the same part launches on any of them."""
    raw = text.strip()
    if not raw:
        raise InvalidRequest("No GPU given; write it like `A100-80GB:2` (NAME:COUNT) or `L4`.")
    name, sep, count_text = raw.partition(":")
    name, count_text = name.strip(), count_text.strip()
    if not name:
        raise InvalidRequest(f"`{shown(raw)}` has no GPU name before the colon; write it like `A100-80GB:2`.")
    if sep and not count_text:
        raise InvalidRequest(
            f"`{shown(raw)}` has no GPU count after the colon; write it like `{shown(name)}:1`, or leave out `:` for one GPU."
        )
    gpus = _gpus_of(name)
    gpu = gpus[0]
    count = 1
    if sep:
        if not _COUNT.fullmatch(count_text):
            raise InvalidRequest(
                f"`{shown(count_text)}` in `{shown(raw)}` is not a whole number of GPUs; write it like `{gpu.name}:2`."
            )
        per_node = gpu.gpus_per_node
        if len(count_text.lstrip("0")) > 6:  # checked before int(): Python refuses 4,301-digit integers
            raise InvalidRequest(
                f"`{shown(raw)}` asks for too many GPUs; the most the bot launches is {MAX_NODES} nodes "
                f"(`{gpu.name}:{per_node * MAX_NODES}`)."
            )
        count = int(count_text)
        if count < 1:
            raise InvalidRequest(
                f"`{shown(raw)}` asks for no GPUs; the count must be at least 1, like `{gpu.name}:1`."
            )
    per_node = gpu.gpus_per_node
    if count > per_node * MAX_NODES:
        raise InvalidRequest(
            f"`{gpu.name}:{count}` would need {count // per_node} nodes; the most the bot launches is "
            f"{MAX_NODES} nodes (`{gpu.name}:{per_node * MAX_NODES}`)."
        )
    if count > per_node and count % per_node:
        raise InvalidRequest(
            f"`{gpu.name}:{count}` cannot be split into whole nodes: one node has at most {per_node} "
            f"{gpu.name}, so counts above {per_node} must be multiples of {per_node}. "
            f"Try {_node_split_hint(gpu, count)}."
        )
    return AcceleratorRequest(gpu=gpu, count=count, alternatives=gpus[1:], spelled=name)

"""The GPU catalogue: every accelerator clouds rent for inference, under SkyPilot's names.

CONTRACT (used by core.fit, core.pricing, core.launcher, bot/): `GpuSpec`, `AcceleratorRequest`,
`get_gpu`, `parse_accelerators`, `CATALOG`.

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
from dataclasses import dataclass
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
    """`NAME:COUNT` resolved against the catalogue. A count above one node means several nodes."""

    gpu: GpuSpec
    count: int  # total GPUs across all nodes

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

    def __str__(self) -> str:
        return f"{self.gpu.name}:{self.count}"


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
    """Look a GPU up by name, case-insensitively; unknown names raise InvalidRequest with close matches."""
    spec = _BY_LOWER.get(name.strip().lower())
    if spec is not None:
        return spec
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


def parse_accelerators(text: str) -> AcceleratorRequest:
    """Parse `NAME[:COUNT]` exactly as SkyPilot spells it (case-insensitive, COUNT defaults to 1)."""
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
    gpu = get_gpu(name)
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
    return AcceleratorRequest(gpu=gpu, count=count)

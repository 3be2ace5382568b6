"""The GPU catalogue: every accelerator clouds rent for inference, under SkyPilot's names.

CONTRACT (used by core.fit, core.pricing, core.launcher, bot/): `GpuSpec`, `AcceleratorRequest`,
`get_gpu`, `parse_accelerators`, `CATALOG`. The catalogue content is filled in by its owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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


CATALOG: dict[str, GpuSpec] = {}


def get_gpu(name: str) -> GpuSpec:
    """Look a GPU up by name, case-insensitively; unknown names raise InvalidRequest with close matches."""
    raise NotImplementedError


def parse_accelerators(text: str) -> AcceleratorRequest:
    """Parse `NAME[:COUNT]` exactly as SkyPilot spells it (case-insensitive, COUNT defaults to 1)."""
    raise NotImplementedError

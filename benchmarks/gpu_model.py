"""GPU peaks for roofline lower bounds: the H100 SXM5 (the static report's model) and the H200.

``gpu_spec(torch.cuda.get_device_name())`` finds the spec of the GPU a run is on; benchmarks.gpu_check
measures the achievable bandwidth there (a device-to-device copy) rather than trusting the datasheet.

A kernel's time is at least max(compulsory bytes / bandwidth, FLOPs / peak). "Compulsory" bytes are each
input read once and each output written once; anything a kernel re-reads or spills comes on top.
"""

from __future__ import annotations

import dataclasses

import torch

H100_BANDWIDTH = 3.35e12  # bytes/s, HBM3
# Dense peaks, FLOP/s. Tensor-core rates apply to tl.dot; gathers and elementwise maths use the FP32 pipes.
H100_PEAK = {
    ("tensor", torch.float32): 494.7e12,  # TF32
    ("tensor", torch.bfloat16): 989.4e12,
    ("tensor", torch.float16): 989.4e12,
    ("fma", torch.float32): 66.9e12,
    ("fma", torch.bfloat16): 66.9e12,  # accumulation is fp32 either way
    ("fma", torch.float16): 66.9e12,
}


@dataclasses.dataclass(frozen=True)
class GPUSpec:
    """Datasheet figures: HBM bandwidth (bytes/s) and dense peaks (FLOP/s) by (unit, dtype)."""

    name: str
    bandwidth: float
    peak: dict


# The H200 is the H100's GH100 die with 141 GB of HBM3e at 4.8 TB/s; its compute peaks are the H100 SXM's.
GPUS = {
    "H100": GPUSpec("H100 SXM5", H100_BANDWIDTH, H100_PEAK),
    "H200": GPUSpec("H200 SXM", 4.8e12, H100_PEAK),
}


def gpu_spec(device_name: str) -> GPUSpec | None:
    """The spec whose key appears in ``device_name`` (e.g. "NVIDIA H200"), or None for an unknown GPU."""
    for key, spec in GPUS.items():
        if key in device_name.upper():
            return spec
    return None


@dataclasses.dataclass(frozen=True)
class Work:
    """Compulsory traffic and arithmetic of one fused call."""

    bytes: float
    flops: float
    unit: str  # "tensor" (tl.dot) or "fma"

    def bound_us(self, dtype: torch.dtype) -> float:
        return 1e6 * max(self.bytes / H100_BANDWIDTH, self.flops / H100_PEAK[(self.unit, dtype)])

    def limiter(self, dtype: torch.dtype) -> str:
        return "memory" if self.bytes / H100_BANDWIDTH >= self.flops / H100_PEAK[(self.unit, dtype)] else "compute"

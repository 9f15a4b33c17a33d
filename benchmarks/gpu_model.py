"""A GPU we cannot run: H100 SXM5 peaks for roofline lower bounds, and the static kernel report.

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
class Work:
    """Compulsory traffic and arithmetic of one fused call."""

    bytes: float
    flops: float
    unit: str  # "tensor" (tl.dot) or "fma"

    def bound_us(self, dtype: torch.dtype) -> float:
        return 1e6 * max(self.bytes / H100_BANDWIDTH, self.flops / H100_PEAK[(self.unit, dtype)])

    def limiter(self, dtype: torch.dtype) -> str:
        return "memory" if self.bytes / H100_BANDWIDTH >= self.flops / H100_PEAK[(self.unit, dtype)] else "compute"

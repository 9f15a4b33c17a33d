"""DeformableConvMotion: VREMD's deformable-convolution ablation (DC, Table 6 (a)).

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from posemods._shapes import expect_odd_size
from posemods.modules.motion_operator import MotionConfig, MotionOperator, ReferencePointsMode
from posemods.modules.offsets import OffsetConv, pixel_centres


class DeformableConvMotion(MotionOperator):
    """A standard k x k deformable convolution over the motion tokens, its offsets predicted from them.

    Table 6 (a): "we first replace our Adaptive Deformable Cross (ADC) block with the deformable conv
    (DC) [Dai et al.], as adopted in previous works" (DCPose, FAMI-Pose, TDMI). As there, the offsets
    come from the motion features themselves and the constraint F plays no part:

    - ``offset = Conv_k(x)`` (B, 2 * G * k * k, H, W), a plain k x k convolution of the motion map
      (``offset_kernel_size``, 3 by default) predicting (dy, dx) for every tap of every offset group.
      Its weight and bias start at zero, as mmcv's ``DeformConv2dPack`` initialises ``conv_offset``,
      so DC starts as an ordinary k x k convolution;
    - ``out = deform_conv2d(x, offset, weight, bias, padding=k // 2)``
      (``torchvision.ops.deform_conv2d``, Dai et al.'s deformable convolution v1): a dense C -> C
      k x k kernel (``kernel_size``, 3 by default, so N = 9 taps) whose taps are moved by the offsets.

    ``num_points``, ``constraint_dim``, ``offset_conv``, ``qkv_bias`` and ``backend`` are accepted so
    DCA, DA and DC share one constructor (:class:`~posemods.modules.motion_operator.MotionConfig`,
    :func:`~posemods.modules.deformable_motion.deformable_motion`);
    the taps are ``kernel_size ** 2`` and deform_conv2d always runs torchvision's own kernel, which has
    no bfloat16 kernel on CPU (a ``TypeError`` says so; float16 and float32 run). ``constraint`` is
    checked when given and never read, so it may be ``None``.

    ``reference_points`` (B, L, 2), when passed to :meth:`forward`, moves every tap of a pixel by that
    pixel's reference point minus its own centre, so it means the same as in DCA and DA.

    Args:
        dim: C, the width of x and of the output.
        num_heads: G, offset groups; C must be a multiple of it.
        num_points: accepted for the shared constructor; the taps are ``kernel_size ** 2``.
        constraint_dim: Cz, the width of F when one is passed; default C.
        offset_kernel_size: the offset conv's kernel (odd).
        offset_conv: validated, unused (the offset conv is a plain one).
        qkv_bias: unused (there are no projections).
        backend: validated, unused.
        kernel_size: k of the deformable convolution (odd), 3 as in DCPose's and Dai et al.'s DC.
        reference_points: only ``"grid"`` (DC has no z).
        num_prefix_tokens: P tokens ahead of the grid, passed through unchanged.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        num_points: int = 4,
        constraint_dim: int | None = None,
        offset_kernel_size: int = 3,
        offset_conv: OffsetConv = "depthwise",
        qkv_bias: bool = True,
        backend: Literal["auto", "reference", "triton"] = "auto",
        *,
        kernel_size: int = 3,
        reference_points: ReferencePointsMode | None = None,
        num_prefix_tokens: int = 0,
    ) -> None:
        config = MotionConfig(
            dim, num_heads, num_points, constraint_dim, offset_kernel_size, offset_conv, "dc", qkv_bias, backend,
            reference_points,
        )  # fmt: skip
        super().__init__(config, num_prefix_tokens)
        self.kernel_size = expect_odd_size("kernel_size", kernel_size)
        taps = kernel_size * kernel_size
        self.offsets = nn.Conv2d(dim, num_heads * 2 * taps, offset_kernel_size, padding=offset_kernel_size // 2)
        conv = nn.Conv2d(dim, dim, kernel_size)  # Conv2d's default initialisation of the kernel
        self.weight = nn.Parameter(conv.weight.detach().clone())
        self.bias = nn.Parameter(conv.bias.detach().clone())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.offsets.weight)  # mmcv's init_offset: DC starts as a plain convolution
        nn.init.zeros_(self.offsets.bias)

    def forward_grid(self, x, constraint, hw, reference_points) -> torch.Tensor:
        """x (B, L, C) grid tokens (constraint is None: DC never reads F), hw = (H, W),
        reference_points (B, L, 2) or None; checked by :meth:`forward`. Returns (B, L, C)."""
        if x.dtype == torch.bfloat16 and x.device.type == "cpu" and not torch.is_autocast_enabled("cpu"):
            raise TypeError(
                "x: torchvision's deform_conv2d has no bfloat16 kernel on CPU; run DC in float32 or float16 "
                "(module.float()), under torch.autocast('cpu'), or on CUDA"
            )
        batch, (height, width) = x.shape[0], hw
        image = x.transpose(1, 2).reshape(batch, self.dim, height, width)
        offset = self.offsets(image)  # (B, G * k * k * 2, H, W): (dy, dx) per group and tap
        if reference_points is not None:
            # Every tap moves by the reference point's distance from the pixel's own centre, in pixels.
            centres = pixel_centres(height, width, x.device, reference_points.dtype)
            scale = torch.tensor([width, height], device=x.device, dtype=reference_points.dtype)
            shift = ((reference_points - centres) * scale).flip(-1)  # (B, L, 2) as (dy, dx)
            shift = shift.transpose(1, 2).reshape(batch, 2, height, width)
            offset = offset + shift.repeat(1, offset.shape[1] // 2, 1, 1).to(offset.dtype)
        from torchvision.ops import deform_conv2d  # imported on first use: `import posemods` stays light

        # Under CPU autocast the offset conv runs in bf16 while x stays float32; deform_conv2d has no
        # CPU autocast rule and wants one dtype, x's.
        offset, weight, bias = (t.to(image.dtype) for t in (offset, self.weight, self.bias))
        # torchvision's kernel converts each sampling position to an integer pixel: a NaN or infinite
        # offset there is undefined behaviour (a finite output, or a read far out of bounds and a
        # segfault). Past H + W + k pixels every tap samples the zero padding anyway, so clamping is
        # exact; a NaN offset gives a NaN output at its pixel, as NaN in must give NaN out.
        nan_offset = offset.isnan().any(dim=1, keepdim=True)
        limit = height + width + self.kernel_size
        offset = offset.nan_to_num(0.0).clamp(-limit, limit)
        out = deform_conv2d(image, offset, weight, bias, padding=self.kernel_size // 2)
        out = out.masked_fill(nan_offset, float("nan"))
        return out.flatten(2).transpose(1, 2)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, kernel_size={self.kernel_size}, "
            f"constraint_dim={self.constraint_dim}, num_prefix_tokens={self.num_prefix_tokens}"
        )

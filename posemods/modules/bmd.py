"""BidirectionalMotionDisentangle (BMD), VREMD's motion module, and its Adaptive Deformable Cross (ADC) block.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

import torch
from torch import nn

from posemods._shapes import (
    expect_float,
    expect_grid,
    expect_grid_tokens,
    expect_mlp_ratio,
    expect_module_dtype,
    expect_positive,
    expect_prefix_tokens,
    expect_same,
    expect_shape,
)
from posemods.modules.cross_attention import CrossAttention
from posemods.modules.deformable_motion import deformable_motion
from posemods.modules.motion_operator import MotionConfig, Operator, ReferencePointsMode
from posemods.modules.offsets import OffsetConv


class AdaptiveDeformableCross(nn.Module):
    """One ADC block: a deformable branch and a cross-attention branch, concatenated, then an MLP.

    For a motion stream x (B, L, C) and the enhanced feature F (B, L, Cz) on an H x W grid, with
    ``operator="dca"`` (the paper's ADC: "a dual-branch structure that includes a deformable cross
    attention (DCA) and a cross attention. The results from the dual branches are concatenated and
    sent into an MLP")::

        h = LN(x),  z = LN_F(F)
        x + Mlp(concat[DCA(h, z), CrossAttention(h, z)])          Mlp: 2C -> mlp_ratio * C -> C

    - DCA (eq. 3-4): query and sampled keys/values from h, offsets constrained by z;
    - the cross attention takes its queries from h and its keys and values from z
      (:class:`~posemods.modules.cross_attention.CrossAttention`);
    - timm's ``Mlp`` reads the 2C concatenation and writes C, added to the stream (a pre-norm
      residual, as in a ViT block).

    ``operator="da"`` / ``"dc"`` are Table 6 (b) / (a), where the paper replaces the ADC block by
    "plain deformable attention (DA)" / "the deformable conv (DC)": the block keeps its pre-norm
    residual and MLP (so the rows differ only in the operator) but has neither the cross-attention
    branch nor F: ``x + Mlp(deform(LN(x)))``, Mlp C -> mlp_ratio * C -> C, and ``constraint`` is never
    read (it may be ``None``). The cross attention belongs to row (c): "(c) We propose a novel
    deformable attention and selective feature highlighting of cross attention".

    Args:
        dim: C, the stream width.
        num_heads: G of both branches.
        num_points: N sampling points per query and head of the deformable branch.
        mlp_ratio: hidden width of the MLP as a multiple of C.
        operator: ``"dca"``, ``"da"`` or ``"dc"``.
        constraint_dim: Cz, the width of F; default C.
        offset_kernel_size, offset_conv, qkv_bias, reference_points: passed to the deformable branch
            (qkv_bias to both).
        backend: ``"auto"``, ``"reference"`` or ``"triton"`` for the deformable branch.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        num_points: int = 4,
        mlp_ratio: float = 4.0,
        operator: Operator = "dca",
        constraint_dim: int | None = None,
        offset_kernel_size: int = 3,
        offset_conv: OffsetConv = "depthwise",
        qkv_bias: bool = True,
        backend: Literal["auto", "reference", "triton"] = "auto",
        reference_points: ReferencePointsMode | None = None,
    ) -> None:
        super().__init__()
        motion = MotionConfig(
            dim, num_heads, num_points, constraint_dim, offset_kernel_size, offset_conv, operator, qkv_bias, backend,
            reference_points,
        )  # fmt: skip
        mlp_ratio = expect_mlp_ratio(mlp_ratio, dim)
        # timm is imported here, not at module level: it imports torch._dynamo and with it triton,
        # which `import posemods` must not cost.
        from timm.layers import Mlp

        self.operator = operator
        self.norm = nn.LayerNorm(dim)
        self.deform = deformable_motion(**asdict(motion))
        if operator == "dca":
            self.constraint_norm = nn.LayerNorm(motion.constraint_dim)
            self.cross = CrossAttention(dim, num_heads, context_dim=motion.constraint_dim, qkv_bias=qkv_bias)
        branches = 2 if operator == "dca" else 1
        self.mlp = Mlp(branches * dim, int(dim * mlp_ratio), dim)

    def forward(self, x, constraint, hw, reference_points=None) -> torch.Tensor:
        """x (B, L, C) motion stream, constraint (B, L, Cz) the enhanced F (never read, and may be
        ``None``, for DA and DC), hw = (H, W) with H * W = L, reference_points (B, L, 2) or None:
        the motion-operator contract (:class:`~posemods.modules.motion_operator.MotionOperator`),
        on grid tokens only. Returns the updated stream (B, L, C)."""
        h = self.norm(x)
        if self.operator != "dca":
            return x + self.mlp(self.deform(h, None, hw, reference_points))
        z = self.constraint_norm(constraint)
        branches = torch.cat([self.deform(h, z, hw, reference_points), self.cross(h, z)], dim=-1)
        return x + self.mlp(branches)

    def extra_repr(self) -> str:
        return f"operator={self.operator!r}"


class MotionStream(nn.Module):
    """One direction's stream: an input embedding, ``depth`` ADC blocks, a final LayerNorm.

    The embedding maps the stream's stacked frame differences (B, L, Cin) to C. With one difference
    per stream (T = 3, bidirectional) Cin = C and the embedding is the identity, without parameters,
    so the stream sees M_f or M_b itself, as in the paper.
    """

    def __init__(self, in_dim: int, depth: int, motion: MotionConfig, mlp_ratio: float) -> None:
        super().__init__()
        dim = motion.dim
        self.embed = nn.Identity() if in_dim == dim else nn.Linear(in_dim, dim)
        self.blocks = nn.ModuleList(
            AdaptiveDeformableCross(**asdict(motion), mlp_ratio=mlp_ratio) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)  # the final norm of a pre-norm stack

    def forward(self, motion, constraint, hw, reference_points=None) -> torch.Tensor:
        """motion (B, L, Cin), constraint (B, L, Cz). Returns (B, L, C)."""
        x = self.embed(motion)
        for block in self.blocks:
            x = block(x, constraint, hw, reference_points)
        return self.norm(x)


class BidirectionalMotionDisentangle(nn.Module):
    """Backbone features of a clip and the enhanced F -> the aggregated motion M (VREMD's BMD).

    Input ``feats`` (B, T, L, C): T = ``num_frames`` (odd, >= 3) frames of L = H * W backbone tokens,
    the key frame t in the middle (index ``T // 2``). ``enhanced`` (B, L, Cz) is HKM's enhanced F, the
    constraint of every block. Without HKM (Table 4 row (b)) pass the key frame's own backbone features,
    ``feats[:, T // 2]``: the paper's ADC then "receives backbone output features instead".

    1. Motion (:meth:`motion`): ``M_f = F_{t+1} - F_t`` and ``M_b = F_{t-1} - F_t``, the neighbour
       minus the key frame.
    2. Streams (:meth:`disentangle`). ``bidirectional=True`` (the paper's bidirectional separation,
       BS): M_f and M_b each go through their own :class:`MotionStream` of ``depth``
       :class:`AdaptiveDeformableCross` blocks, with separate weights, constrained by the same F.
       ``bidirectional=False`` (Table 6 "without BS", the practice of earlier methods): the channel
       concatenation ``[M_f, M_b]`` (B, L, 2C) is embedded by a Linear 2C -> C and processed by one
       stream, so the two directions mix from the first layer on.
    3. Fusion (:attr:`fusion`): a Linear over the concatenated final stream outputs,
       ``M = W [M_f'; M_b'] + b`` (2C -> C), or C -> C for the single stream.

    More frames (T = 2K + 1 > 3): frame t + k enters the forward stream and frame t - k the backward
    stream, each as its difference from the key frame, ``F_{t+k} - F_t`` and ``F_{t-k} - F_t`` for
    k = 1..K. A stream's differences are concatenated on the channel axis, nearest frame first,
    (B, L, K * C), and its embedding (a Linear K * C -> C) makes them one C-wide stream; without BS the
    2K differences are concatenated forward ones first ([k = 1..K forward, k = 1..K backward]) and
    embedded from 2K * C. Differences against the key frame or between consecutive frames carry the
    same information (each is a fixed linear map of the other), and the embedding is linear. T = 3
    (K = 1) with BS has no embedding at all: the streams start from M_f and M_b exactly.

    ``operator`` (the same name as in DCA and
    :func:`~posemods.modules.deformable_motion.deformable_motion`) picks the operator of every block,
    Table 6's rows, which :data:`posemods.models.VREMD_TABLE6` spells out: ``"dc"`` (a) and ``"da"``
    (b) replace the whole ADC block (no cross attention, F never read: ``enhanced`` may be ``None``);
    ``"dca"`` is the ADC block, (c) with ``bidirectional=False`` and (d), VREMD, with ``True``.

    Prefix tokens (``num_prefix_tokens=P``): ``feats`` (B, T, P + L, C) and ``enhanced``
    (B, P + L, Cz) carry a timm ViT's cls / register tokens first; the streams see the L grid tokens
    only, and M's P prefix tokens are the key frame's, ``feats[:, T // 2, :P]``, unchanged.

    Args:
        dim: C, the backbone feature width and the width of every stream and of M.
        num_heads: G of the deformable and cross-attention branches.
        num_points: N sampling points of the deformable branch.
        depth: ADC blocks per stream.
        mlp_ratio: hidden width of each block's MLP, as a multiple of C (a finite number > 0).
        operator: ``"dca"``, ``"da"`` or ``"dc"``.
        bidirectional: separate forward and backward streams (BS); ``False`` for one joint stream.
        backend: ``"auto"``, ``"reference"`` or ``"triton"`` for the DCA / DA ops (DC always runs
            torchvision's ``deform_conv2d``).
        num_frames: T, odd and >= 3; inputs must have exactly this T.
        constraint_dim: Cz, the width of ``enhanced``; default C.
        offset_kernel_size, offset_conv, qkv_bias: passed to every block's deformable branch.
        reference_points: DCA's p_z, ``"constraint"`` (DCA's default) or ``"grid"``; see
            :class:`~posemods.modules.dca.DeformableCrossAttention`.
        num_prefix_tokens: P tokens ahead of the grid, passed through from the key frame.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        num_points: int = 4,
        depth: int = 2,
        mlp_ratio: float = 4.0,
        operator: Operator = "dca",
        bidirectional: bool = True,
        backend: Literal["auto", "reference", "triton"] = "auto",
        *,
        num_frames: int = 3,
        constraint_dim: int | None = None,
        offset_kernel_size: int = 3,
        offset_conv: OffsetConv = "depthwise",
        qkv_bias: bool = True,
        reference_points: ReferencePointsMode | None = None,
        num_prefix_tokens: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (("depth", depth), ("num_frames", num_frames)):
            expect_positive(name, value)
        if num_frames < 3 or num_frames % 2 == 0:
            raise ValueError(f"num_frames: expected an odd T >= 3 (the key frame in the middle), got {num_frames}")
        # Every block's operator, checked once here, before anything is allocated.
        motion = MotionConfig(
            dim, num_heads, num_points, constraint_dim, offset_kernel_size, offset_conv, operator, qkv_bias, backend,
            reference_points,
        )  # fmt: skip
        mlp_ratio = expect_mlp_ratio(mlp_ratio, dim)
        self.num_prefix_tokens = expect_prefix_tokens(num_prefix_tokens)
        self.dim, self.num_frames, self.key_frame = dim, num_frames, num_frames // 2
        self.constraint_dim = motion.constraint_dim
        self.operator, self.bidirectional, self.backend = operator, bidirectional, backend

        per_direction = self.key_frame * dim  # K differences of C channels
        if bidirectional:
            self.forward_stream = MotionStream(per_direction, depth, motion, mlp_ratio)
            self.backward_stream = MotionStream(per_direction, depth, motion, mlp_ratio)
        else:
            self.stream = MotionStream(2 * per_direction, depth, motion, mlp_ratio)
        self.fusion = nn.Linear(len(self.streams) * dim, dim)

    @property
    def streams(self) -> tuple[MotionStream, ...]:
        """(forward, backward) with BS, else (joint,): in the order :meth:`motion` returns their inputs."""
        return (self.forward_stream, self.backward_stream) if self.bidirectional else (self.stream,)

    def forward(
        self,
        feats: torch.Tensor,
        enhanced: torch.Tensor | None,
        hw: tuple[int, int],
        reference_points: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """feats (B, T, P + L, C) backbone features, enhanced (B, P + L, Cz) F (``None`` allowed for
        DA and DC), hw = (H, W) with H * W = L, reference_points (B, L, 2) normalised (x, y) or None
        (each query's own pixel). Returns M (B, P + L, C), the key frame's P prefix tokens first."""
        motion = self.fusion(torch.cat(self.disentangle(feats, enhanced, hw, reference_points), dim=-1))
        prefix = self.num_prefix_tokens
        return torch.cat([feats[:, self.key_frame, :prefix], motion], dim=1) if prefix else motion

    def disentangle(
        self,
        feats: torch.Tensor,
        enhanced: torch.Tensor | None,
        hw: tuple[int, int],
        reference_points: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """The streams' outputs before the fusion, on the L grid tokens: (forward (B, L, C),
        backward (B, L, C)) with BS, else (joint (B, L, C),)."""
        self._check(feats, enhanced, hw)
        prefix = self.num_prefix_tokens
        feats = feats[:, :, prefix:]
        enhanced = enhanced[:, prefix:] if self.operator == "dca" else None  # DA and DC never read F
        return tuple(
            stream(motion, enhanced, hw, reference_points) for stream, motion in zip(self.streams, self.motion(feats))
        )

    def motion(self, feats: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """feats (B, T, L, C), grid tokens only -> each stream's input before its embedding.

        With BS: (forward (B, L, K * C), backward (B, L, K * C)), the differences
        ``F_{t+k} - F_t`` and ``F_{t-k} - F_t`` for k = 1..K stacked on channels; at T = 3 that is
        (M_f, M_b). Without BS: (the concatenation of both, (B, L, 2K * C),).
        """
        batch, _, length, channels = feats.shape
        key = self.key_frame
        anchor = feats[:, key : key + 1]
        future = feats[:, key + 1 :] - anchor  # k = 1..K
        past = feats[:, :key].flip(1) - anchor  # k = 1..K, nearest first
        stack = lambda diffs: diffs.transpose(1, 2).reshape(batch, length, key * channels)
        forward, backward = stack(future), stack(past)
        return (forward, backward) if self.bidirectional else (torch.cat([forward, backward], dim=-1),)

    def _check(self, feats, enhanced, hw) -> None:
        dims = {"T": self.num_frames, "C": self.dim, "Cz": self.constraint_dim}
        expect_shape("feats", feats, "B T L C", dims)
        expect_float("feats", feats)
        expect_module_dtype("feats", feats, self)  # also checks the device
        if enhanced is not None or self.operator == "dca":
            expect_shape("enhanced", enhanced, "B L Cz", dims)
            expect_float("enhanced", enhanced)
            expect_same("device", feats=feats, enhanced=enhanced)
            expect_module_dtype("enhanced", enhanced, self)
        expect_grid("hw", hw, expect_grid_tokens("feats", dims["L"], self.num_prefix_tokens))

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_frames={self.num_frames}, operator={self.operator!r}, "
            f"bidirectional={self.bidirectional}, num_prefix_tokens={self.num_prefix_tokens}, backend={self.backend!r}"
        )

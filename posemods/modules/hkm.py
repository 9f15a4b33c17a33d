"""HumanKeypointMask (HKM), VREMD's Human-Keypoint Mask Enhanced module (HKME), eq. 1-2.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

from posemods import functional
from posemods._backend import BACKENDS
from posemods._shapes import (
    expect_choice,
    expect_float,
    expect_grid,
    expect_grid_tokens,
    expect_mlp_ratio,
    expect_module_dtype,
    expect_positive,
    expect_prefix_tokens,
    expect_shape,
)

MASK_ACTIVATIONS = ("none", "sigmoid")


class HKMOutput(NamedTuple):
    """What :class:`HumanKeypointMask` returns.

    features: (B, P + L, C), the enhanced feature F of the key frame's clip (P prefix tokens first,
        the key frame's, unchanged; P = 0 by default).
    keypoint_tokens: (B, J, C), the key frame's keypoint tokens T_t, in every row of Table 5.
    human_mask: (B, T, L), Mask_h of each frame (eq. 1); ones with ``human_mask=False``.
    keypoint_mask: (B, T, L), Mask_k (eq. 2) split back into frames; ones with ``keypoint_mask=False``.
    """

    features: torch.Tensor
    keypoint_tokens: torch.Tensor
    human_mask: torch.Tensor
    keypoint_mask: torch.Tensor


class HumanKeypointMask(nn.Module):
    """Enhance a clip's backbone features with a human mask, then a keypoint mask, then space-time blocks.

    Input ``feats`` (B, T, L, C): T frames of L = H * W backbone tokens, the key frame in the middle
    (index ``T // 2``; T = 3 in the paper). Three steps, each a method:

    1. :meth:`human_step` (eq. 1). One learnable human token per frame is appended to that frame's L
       tokens and ``human_depth`` transformer blocks run within each frame. Splitting gives F̄ (L, C)
       and T̄_h (1, C) per frame; ``Mask_h = F̄ T̄_hᵀ`` (L, 1) and ``F_c = F̄ ⊙ Mask_h``.
       ``mask_activation="none"`` is the paper's raw product; ``"sigmoid"`` squashes it to (0, 1).
    2. :meth:`keypoint_step` (eq. 2). J learnable keypoint tokens per frame are appended to each
       frame's F_c, all frames are concatenated into one sequence of T * (L + J) tokens, and
       ``joint_depth`` space-time blocks run over it. Splitting gives F̂ (T * L, C) and T̂_k (T * J, C);
       ``Mask_k = sum_j softmax_l(T̂_kj F̂ᵀ)`` (T * L), computed by
       :func:`posemods.functional.keypoint_mask` (fused on the triton backend, never writing the
       (T * J, T * L) map), and ``F_f = F̂ ⊙ Mask_k``.
    3. :meth:`aggregate`. ``spatial_depth`` blocks within each frame, ``temporal_depth`` blocks over
       each position's T-long sequence, a LayerNorm (the final norm of a pre-norm stack), then an MLP
       that maps each position's T * C frame features to C: the enhanced F (B, L, C).

    ``human_mask=False`` / ``keypoint_mask=False`` turn that *mask* off and nothing else: the mask is
    all ones, so ``F_c = F̄`` / ``F_f = F̂``, while the tokens, their blocks and every parameter stay.
    The four combinations are Table 5's rows (:data:`posemods.models.VREMD_TABLE5`), which differ
    only in the masks: (a) "only the spatio-temporal Transformers network", (b) "a human mask for
    coarse filtering", (c) "a keypoint mask for basic joint token screening", (d) both, the paper's
    HKME. The keypoint tokens exist in every row, so ``keypoint_tokens`` is never ``None`` and
    VREMD's keypoint head H_k stays in every row of Table 5.

    Prefix tokens (``num_prefix_tokens=P``): ``feats`` (B, T, P + L, C) carries a timm ViT's cls /
    register tokens first. The three steps run on the L grid tokens; ``features`` gets the key
    frame's P prefix tokens back in front, unchanged.

    The blocks are timm's ViT ``Block`` (pre-norm attention + MLP), so attention runs through
    ``F.scaled_dot_product_attention``. No positional embedding is added: the backbone features
    carry position, and the per-frame tokens and the T * C reduction carry the frame order.

    Args:
        dim: C, the feature channels.
        num_joints: J, keypoint tokens per frame.
        num_frames: T, frames per clip (any T >= 1); the human and keypoint tokens are per frame and
            the final MLP reads T * C features, so inputs must have exactly this T.
        num_heads: attention heads G of every block; ``dim`` must be divisible by it.
        human_depth, joint_depth, spatial_depth, temporal_depth: blocks in steps 1, 2, 3 (spatial)
            and 3 (temporal).
        mlp_ratio: hidden width of every block's MLP and of the reduction MLP, as a multiple of C
            (a finite number > 0).
        human_mask, keypoint_mask: apply Mask_h and Mask_k (Table 5); off means all ones.
        mask_activation: ``"none"`` (the paper) or ``"sigmoid"``, applied to Mask_h.
        backend: ``"auto"``, ``"reference"`` or ``"triton"`` for the keypoint mask.
        num_prefix_tokens: P tokens ahead of the grid, passed through from the key frame.
    """

    def __init__(
        self,
        dim: int,
        num_joints: int,
        num_frames: int = 3,
        num_heads: int = 8,
        human_depth: int = 1,
        joint_depth: int = 1,
        spatial_depth: int = 1,
        temporal_depth: int = 1,
        mlp_ratio: float = 4.0,
        human_mask: bool = True,
        keypoint_mask: bool = True,
        mask_activation: Literal["none", "sigmoid"] = "none",
        backend: Literal["auto", "reference", "triton"] = "auto",
        *,
        num_prefix_tokens: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("dim", dim), ("num_joints", num_joints), ("num_frames", num_frames), ("num_heads", num_heads),
            ("human_depth", human_depth), ("joint_depth", joint_depth), ("spatial_depth", spatial_depth),
            ("temporal_depth", temporal_depth),
        ):  # fmt: skip
            expect_positive(name, value)
        if dim % num_heads:
            raise ValueError(f"dim: expected a multiple of num_heads={num_heads}, got {dim}")
        expect_choice("mask_activation", mask_activation, MASK_ACTIVATIONS)
        expect_choice("backend", backend, BACKENDS)
        mlp_ratio = expect_mlp_ratio(mlp_ratio, dim)
        self.num_prefix_tokens = expect_prefix_tokens(num_prefix_tokens)
        self.dim = dim
        self.num_joints = num_joints
        self.num_frames = num_frames
        self.key_frame = num_frames // 2
        self.human_mask = human_mask
        self.keypoint_mask = keypoint_mask
        self.mask_activation = mask_activation
        self.backend = backend

        # timm is imported here, not at module level: it imports torch._dynamo and with it triton
        # (seconds), which `import posemods` must not cost.
        from timm.layers import Mlp
        from timm.models.vision_transformer import Block

        blocks = lambda depth: nn.ModuleList(
            Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True) for _ in range(depth)
        )
        # The tokens and their blocks stay whatever the mask flags (Table 5's rows differ in masks only).
        self.human_token = nn.Parameter(torch.zeros(num_frames, 1, dim))  # T_h, one per frame
        self.human_blocks = blocks(human_depth)
        self.keypoint_tokens = nn.Parameter(torch.zeros(num_frames, num_joints, dim))  # T_k, J per frame
        self.joint_blocks = blocks(joint_depth)
        self.spatial_blocks = blocks(spatial_depth)
        self.temporal_blocks = blocks(temporal_depth)
        self.reduce_norm = nn.LayerNorm(dim)
        self.reduce = Mlp(num_frames * dim, int(dim * mlp_ratio), dim)  # T * C -> C
        self._init_weights()

    def _init_weights(self) -> None:
        # ViT's initialisation (timm's vision_transformer): truncated normal tokens and linear weights.
        from timm.layers import trunc_normal_

        for token in (self.human_token, self.keypoint_tokens):
            trunc_normal_(token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, feats: torch.Tensor, hw: tuple[int, int] | None = None) -> HKMOutput:
        """feats (B, T, P + L, C) -> :class:`HKMOutput` (features (B, P + L, C), keypoint_tokens
        (B, J, C), human_mask (B, T, L), keypoint_mask (B, T, L)). ``hw = (H, W)``, when given, is
        checked against L = H * W; HKM itself needs no grid, as its blocks see tokens only."""
        batch, frames, _, channels = self._check(feats, hw)
        prefix = self.num_prefix_tokens
        coarse, human_mask = self.human_step(feats[:, :, prefix:])
        fine, keypoint_tokens, keypoint_mask = self.keypoint_step(coarse)
        features = self.aggregate(fine)
        if prefix:
            features = torch.cat([feats[:, self.key_frame, :prefix], features], dim=1)
        keypoint_tokens = keypoint_tokens.view(batch, frames, self.num_joints, channels)[:, self.key_frame]
        return HKMOutput(features, keypoint_tokens, human_mask, keypoint_mask)

    def human_step(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 1: feats (B, T, L, C) -> (F_c (B, T, L, C), Mask_h (B, T, L))."""
        batch, frames, positions, channels = feats.shape
        token = self.human_token.to(feats.dtype).expand(batch, frames, 1, channels)
        x = torch.cat([feats, token], dim=2).flatten(0, 1)  # (B * T, L + 1, C): one sequence per frame
        for block in self.human_blocks:
            x = block(x)
        feats_bar, human_token = x[:, :positions], x[:, positions:]
        if not self.human_mask:  # Table 5 (a), (c): Mask_h is all ones, F_c = F̄
            return feats_bar.view(batch, frames, positions, channels), feats.new_ones(batch, frames, positions)
        mask = (feats_bar @ human_token.transpose(1, 2)).squeeze(-1)  # F̄ T̄_hᵀ: (B * T, L)
        if self.mask_activation == "sigmoid":
            mask = torch.sigmoid(mask)
        coarse = feats_bar * mask.unsqueeze(-1)
        return coarse.view(batch, frames, positions, channels), mask.view(batch, frames, positions)

    def keypoint_step(self, coarse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq. 2: F_c (B, T, L, C) -> (F_f (B, T, L, C), T̂_k (B, T * J, C), Mask_k (B, T, L))."""
        batch, frames, positions, channels = coarse.shape
        joints = self.num_joints
        tokens = self.keypoint_tokens.to(coarse.dtype).expand(batch, frames, joints, channels)
        x = torch.cat([coarse, tokens], dim=2).reshape(batch, frames * (positions + joints), channels)
        for block in self.joint_blocks:  # space-time: every frame's positions and tokens attend together
            x = block(x)
        x = x.view(batch, frames, positions + joints, channels)
        feats_hat = x[:, :, :positions].reshape(batch, frames * positions, channels)  # F̂ (B, T * L, C)
        tokens_hat = x[:, :, positions:].reshape(batch, frames * joints, channels)  # T̂_k (B, T * J, C)
        if not self.keypoint_mask:  # Table 5 (a), (b): Mask_k is all ones, F_f = F̂; T̂_k stays for H_k
            fine = feats_hat.view(batch, frames, positions, channels)
            return fine, tokens_hat, coarse.new_ones(batch, frames, positions)
        mask = functional.keypoint_mask(tokens_hat, feats_hat, backend=self.backend)  # (B, T * L)
        fine = feats_hat * mask.unsqueeze(-1)
        return fine.view(batch, frames, positions, channels), tokens_hat, mask.view(batch, frames, positions)

    def aggregate(self, fine: torch.Tensor) -> torch.Tensor:
        """Step 3: F_f (B, T, L, C) -> enhanced F (B, L, C)."""
        batch, frames, positions, channels = fine.shape
        x = fine.reshape(batch * frames, positions, channels)
        for block in self.spatial_blocks:  # within each frame
            x = block(x)
        x = x.view(batch, frames, positions, channels).transpose(1, 2).reshape(batch * positions, frames, channels)
        for block in self.temporal_blocks:  # over each position's T frames
            x = block(x)
        x = self.reduce_norm(x).reshape(batch, positions, frames * channels)
        return self.reduce(x)

    def _check(self, feats: torch.Tensor, hw: tuple[int, int] | None) -> tuple[int, int, int, int]:
        dims = {"T": self.num_frames, "C": self.dim}
        expect_shape("feats", feats, "B T L C", dims)
        expect_float("feats", feats)
        expect_module_dtype("feats", feats, self)  # also checks the device
        grid_tokens = expect_grid_tokens("feats", dims["L"], self.num_prefix_tokens)
        if hw is not None:
            expect_grid("hw", hw, grid_tokens)
        return tuple(feats.shape)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_joints={self.num_joints}, num_frames={self.num_frames}, "
            f"human_mask={self.human_mask}, keypoint_mask={self.keypoint_mask}, "
            f"mask_activation={self.mask_activation!r}, num_prefix_tokens={self.num_prefix_tokens}, "
            f"backend={self.backend!r}"
        )

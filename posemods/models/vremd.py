"""VREMD (vremd.txt, Fig. 2): a ViT backbone, HKM and BMD, and two heatmap heads summed.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import os
from typing import Literal, NamedTuple

import torch
from torch import nn

from posemods._shapes import expect_float, expect_module_device, expect_module_dtype, expect_positive, expect_shape
from posemods.models._registry import register_model
from posemods.models.checkpoint import load_checkpoint
from posemods.models.heads import DeconvHead, TokenHeatmapHead
from posemods.models.normalize import IMAGENET_MEAN, IMAGENET_STD
from posemods.models.vit import ViTBackbone
from posemods.modules import BMD, HKM
from posemods.variants import VREMD_TABLE4, VREMD_TABLE5, VREMD_TABLE6, cli_variants

__all__ = ["VREMD", "VREMD_TABLE4", "VREMD_TABLE5", "VREMD_TABLE6", "VREMDOutput"]


class VREMDOutput(NamedTuple):
    """heatmaps (B, J, Hm, Wm) = keypoint_heatmaps + motion_heatmaps; keypoint_heatmaps is H_k, or
    ``None`` without HKM (there are no keypoint tokens then); motion_heatmaps is H_m."""

    heatmaps: torch.Tensor
    keypoint_heatmaps: torch.Tensor | None
    motion_heatmaps: torch.Tensor


def _geometry(input_size: tuple[int, int], clip_length: int) -> dict:
    """A ViT is built for one crop size (H, W) and VREMD for one odd T; patch 16 gives stride 4."""
    return {"img_size": tuple(input_size), "num_frames": clip_length}


# Tables 4-6's rows (posemods.variants): Table 4's bare names and table4:/table5:/table6: rows. The
# backbone trains in "tiny" and "small" (nothing is pretrained on synthetic data); "paper" keeps the
# paper's frozen ViT-L, for a user's backbone_checkpoint=. The ViT presets normalise with ImageNet's
# statistics, as ViTPose does.
@register_model(
    "vremd",
    variants=cli_variants("vremd"),
    default_variant="hkm+bmd",
    presets={
        "tiny": {"backbone": "micro", "freeze_backbone": False, "head_channels": 16},
        "small": {"backbone": "tiny", "freeze_backbone": False, "head_channels": 64},
        "paper": {"backbone": "large"},
    },
    num_joints=17,
    input_size=(256, 192),
    clip_length=3,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    input_multiple=16,
    output="key",
    geometry=_geometry,
)
class VREMD(nn.Module):
    """``video (B, T, 3, H, W) -> key-frame heatmaps (B, J, 4 H / P, 4 W / P)``; the paper: T = 3,
    256 x 192 crops, patch P = 16, so a 16 x 12 token grid and 64 x 48 heatmaps.

    1. Backbone: :class:`~posemods.models.vit.ViTBackbone`, the T frames batched together:
       ``feats`` (B, T, L, C), L = 16 * 12. Frozen by default, as in the paper.
    2. HKM (:class:`~posemods.HumanKeypointMask`) on ``feats``: the enhanced F (B, L, C) and the key
       frame's keypoint tokens T_t (B, J, C).
    3. BMD (:class:`~posemods.BidirectionalMotionDisentangle`) on ``feats`` constrained by F: M (B, L, C).
    4. H_k = :class:`~posemods.models.heads.TokenHeatmapHead` (TokenPose's MLP) of T_t.
    5. H_m: the key frame's features F_t and M are concatenated on channels and mixed by a Linear
       2C -> C (``aggregate``), reshaped to the grid, and decoded by ViTPose's classic head
       (:class:`~posemods.models.heads.DeconvHead`, two stride-2 deconvolutions and a 1x1 conv).
    6. ``H = H_k + H_m``, with equal weights.

    The flags give Table 4's rows (see :data:`VREMD_TABLE4`):

    ===================  ==========================================================================
    baseline             ``hkm=False, bmd=False``: ``H = DeconvHead(F_t)``, ViTPose; only the key
                         frame goes through the backbone.
    (a) ``hkm=True``     no M; the enhanced F takes M's place in step 5, so HKM's space-time output
                         is used (the paper does not say; without it F would be computed and
                         discarded). ``H = H_k + H_m``.
    (b) ``bmd=True``     no HKM: BMD is constrained by the key frame's backbone features F_t, as the
                         paper's row (b) says; there are no keypoint tokens, so ``H = H_m``.
    (c) both             VREMD.
    ===================  ==========================================================================

    Table 5's rows are ``hkm_kwargs`` (:data:`VREMD_TABLE5`): they switch HKM's masks only, so the
    keypoint tokens and H_k stay in every row. Table 6's rows are ``bmd_kwargs``
    (:data:`VREMD_TABLE6`): ``VREMD(bmd_kwargs=VREMD_TABLE6["dc"])`` is row (a).

    Args:
        num_joints: J (17 on PoseTrack).
        backbone: a ViT preset of :data:`~posemods.models.vit.VIT_PRESETS` (``"large"`` is the paper's
            ViT-L) or any timm ViT name (``"vit_large_patch16_224"``, ``"vit_base_patch16_224"`` ...),
            built with random weights; its input normalisation comes from its ``pretrained_cfg``
            (see :class:`~posemods.models.vit.ViTBackbone`).
        hkm, bmd: use HKM and BMD (Table 4).
        num_frames: T, odd (BMD puts the key frame in the middle); 3 in the paper.
        img_size: (H, W) of the crops.
        patch_size: P of the ViT; default 16 for a preset, the model's own for a timm name.
        freeze_backbone: keep the backbone's weights fixed (and the backbone in eval mode), as the paper
            trains.
        num_heads: G of HKM's and BMD's attention.
        head_channels: width of the deconvolutions of H_m's head (256 in ViTPose).
        backend: ``"auto"``, ``"reference"`` or ``"triton"`` for the keypoint-mask and DCA ops.
        hkm_kwargs, bmd_kwargs: further arguments of HKM and BMD (depths, ``operator``, ``bidirectional``,
            ``keypoint_mask`` ...).
        backbone_checkpoint: a local timm ViT state_dict (see :meth:`ViTBackbone.load_pretrained`).
        backbone_kwargs: further ``timm.create_model`` arguments for a timm name (e.g. ``depth``).
        checkpoint: a local state_dict of the whole VREMD, loaded last.
    """

    def __init__(
        self,
        num_joints: int = 17,
        backbone: str = "large",
        hkm: bool = True,
        bmd: bool = True,
        num_frames: int = 3,
        img_size: tuple[int, int] = (256, 192),
        patch_size: int | None = None,
        freeze_backbone: bool = True,
        num_heads: int = 8,
        head_channels: int = 256,
        backend: Literal["auto", "reference", "triton"] = "auto",
        hkm_kwargs: dict | None = None,
        bmd_kwargs: dict | None = None,
        backbone_checkpoint: str | os.PathLike | None = None,
        checkpoint: str | os.PathLike | None = None,
        backbone_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        expect_positive("num_joints", num_joints)
        expect_positive("num_frames", num_frames)
        if num_frames % 2 == 0:
            raise ValueError(f"num_frames: expected an odd T (the key frame in the middle), got {num_frames}")
        self.num_joints, self.num_frames, self.key_frame = num_joints, num_frames, num_frames // 2
        self.freeze_backbone = freeze_backbone
        self.backbone = ViTBackbone(
            backbone, img_size, patch_size, checkpoint=backbone_checkpoint, **(backbone_kwargs or {})
        )
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        dim, grid = self.backbone.embed_dim, self.backbone.grid
        self.heatmap_size = (4 * grid[0], 4 * grid[1])

        shared = {"num_heads": num_heads, "backend": backend}  # hkm_kwargs / bmd_kwargs may override them
        for name, kwargs, fixed in (
            ("hkm_kwargs", hkm_kwargs, ("dim", "num_joints", "num_frames")),
            ("bmd_kwargs", bmd_kwargs, ("dim", "num_frames")),
        ):
            clash = sorted(set(kwargs or {}) & set(fixed))
            if clash:
                raise ValueError(f"{name}: {clash} are set by VREMD (the backbone's width, num_joints, num_frames)")
        self.hkm = HKM(dim, num_joints, num_frames, **{**shared, **(hkm_kwargs or {})}) if hkm else None
        self.bmd = BMD(dim, num_frames=num_frames, **{**shared, **(bmd_kwargs or {})}) if bmd else None
        # HKM always has keypoint tokens (Table 5 turns masks off, not tokens), so H_k goes with HKM.
        self.keypoint_head = TokenHeatmapHead(dim, self.heatmap_size) if hkm else None  # H_k
        self.aggregate = nn.Linear(2 * dim, dim) if (hkm or bmd) else None  # [F_t; M] -> C
        self.motion_head = DeconvHead(dim, num_joints, num_layers=2, channels=head_channels)  # H_m
        if checkpoint is not None:
            load_checkpoint(self, checkpoint)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, T, 3, H, W) -> key-frame heatmaps (B, J, Hm, Wm)."""
        return self.forward_heads(video).heatmaps

    def forward_heads(self, video: torch.Tensor) -> VREMDOutput:
        """Like :meth:`forward`, with H_k and H_m returned apart as well."""
        height, width = self.backbone.img_size
        expect_shape("video", video, "B T 3 H W", {"T": self.num_frames, "H": height, "W": width})
        expect_float("video", video)
        # Checked here, before the patch embedding fails with "Input type (double) and bias type
        # (float) should be the same" or a device error that names neither.
        expect_module_device("video", video, self)
        expect_module_dtype("video", video, self.backbone)
        batch, grid = video.shape[0], self.backbone.grid
        if self.hkm is None and self.bmd is None:
            feats, key_feats = None, self.backbone(video[:, self.key_frame])  # the other frames are unused
        else:
            feats = self.backbone(video.flatten(0, 1)).unflatten(0, (batch, self.num_frames))  # (B, T, L, C)
            key_feats = feats[:, self.key_frame]

        keypoint_tokens, context = None, None
        enhanced = key_feats  # Table 4 (b): BMD's constraint is the key frame's own features
        if self.hkm is not None:
            enhanced, keypoint_tokens = self.hkm(feats, hw=grid)[:2]
            context = enhanced
        if self.bmd is not None:
            context = self.bmd(feats, enhanced, grid)

        x = key_feats if context is None else self.aggregate(torch.cat([key_feats, context], dim=-1))
        motion_heatmaps = self.motion_head(x.transpose(1, 2).unflatten(-1, grid))
        keypoint_heatmaps = self.keypoint_head(keypoint_tokens) if self.keypoint_head is not None else None
        heatmaps = motion_heatmaps if keypoint_heatmaps is None else keypoint_heatmaps + motion_heatmaps
        return VREMDOutput(heatmaps, keypoint_heatmaps, motion_heatmaps)

    def train(self, mode: bool = True) -> VREMD:
        super().train(mode)
        if self.freeze_backbone:  # a frozen backbone also keeps its stochastic depth and dropout off
            self.backbone.eval()
        return self

    def extra_repr(self) -> str:
        return (
            f"num_joints={self.num_joints}, num_frames={self.num_frames}, hkm={self.hkm is not None}, "
            f"bmd={self.bmd is not None}, freeze_backbone={self.freeze_backbone}"
        )

"""A timm VisionTransformer as a pose backbone: 256 x 192 crops, patch 16, no class token (ViTPose's setting),
or any timm ViT by name.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import math
import os

import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from posemods._shapes import expect_float, expect_shape
from posemods.models.checkpoint import read_state_dict
from posemods.models.normalize import ImageNormalize

#: (embed_dim C, depth, num_heads) of each preset. "micro" is for tests; "large" is the paper's ViT-L.
VIT_PRESETS: dict[str, tuple[int, int, int]] = {
    "micro": (32, 2, 2),
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
    "huge": (1280, 32, 16),
}

# Keys of a classification checkpoint that a token backbone has no use for.
_DROPPED = ("head.", "fc_norm.", "head_drop.", "cls_token", "reg_token", "dist_token", "head_dist.")


class ViTBackbone(nn.Module):
    """image (B, 3, H, W) -> tokens (B, L, C), L = (H / P) * (W / P), row-major over the patch grid.

    Two ways to name the ViT:

    - a preset of :data:`VIT_PRESETS` (``"micro"`` for tests ... ``"large"``, the paper's ViT-L): a
      timm ``VisionTransformer`` with ``class_token=False`` and no classifier, so every output token
      is a patch, 256 x 192 crops and patch 16 giving the 16 x 12 grid of ViTPose and VREMD. Inputs
      are normalised with ImageNet's statistics, as ViTPose (mmpose) normalises them.
    - any timm ViT by name, e.g. ``"vit_large_patch16_224"`` or ``"vit_small_patch14_reg4_dinov2"``:
      ``timm.create_model(name, pretrained=False, img_size=img_size, num_classes=0, global_pool="",
      **timm_kwargs)`` (nothing is downloaded; load weights with ``checkpoint``). Its cls / register
      tokens (``num_prefix_tokens``) are dropped from the output, its patch size and grid are its own,
      and inputs are normalised with the statistics of its ``pretrained_cfg``
      (:meth:`~posemods.models.normalize.ImageNormalize.from_pretrained_cfg`), e.g. (0.5, 0.5, 0.5)
      for timm's augreg ViTs, not fixed ImageNet constants.

    The tokens are those after the final LayerNorm. The image is RGB in [0, 1].

    Args:
        preset: a key of :data:`VIT_PRESETS`, or the name of a timm ViT.
        img_size: (H, W) of the input crops; each a multiple of the patch size.
        patch_size: P; 16 for presets, the model's own for a timm name (given, it is passed to timm).
        drop_path_rate: stochastic depth of the blocks (ViTPose trains ViT-L with 0.5; 0 when frozen).
        checkpoint: a local state_dict of a timm ViT of this width and depth, at any resolution.
            See :meth:`load_pretrained`.
        **timm_kwargs: further ``timm.create_model`` arguments for a timm name (e.g. ``depth=``).

    Attributes:
        grid: (H / P, W / P), the token grid.
        embed_dim: C.
        num_prefix_tokens: the cls / register tokens the ViT carries and this backbone drops.
    """

    def __init__(
        self,
        preset: str = "large",
        img_size: tuple[int, int] = (256, 192),
        patch_size: int | None = None,
        drop_path_rate: float = 0.0,
        checkpoint: str | os.PathLike | None = None,
        **timm_kwargs,
    ) -> None:
        super().__init__()
        if not isinstance(preset, str):
            raise TypeError(f"preset: expected a VIT_PRESETS key or a timm ViT name, got {type(preset).__name__}")
        height, width = img_size
        self.preset = preset
        self.img_size = (height, width)
        if preset in VIT_PRESETS:
            if timm_kwargs:
                raise ValueError(
                    f"timm_kwargs: only for a timm model name, not preset {preset!r}: {sorted(timm_kwargs)}"
                )
            patch_size = 16 if patch_size is None else patch_size
            self._check_size(patch_size)
            embed_dim, depth, num_heads = VIT_PRESETS[preset]
            self.vit = VisionTransformer(
                img_size=(height, width), patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                num_heads=num_heads, class_token=False, global_pool="", num_classes=0, drop_path_rate=drop_path_rate,
            )  # fmt: skip
            self.normalize = ImageNormalize()
        else:
            self.vit = self._create_timm(preset, (height, width), patch_size, drop_path_rate, timm_kwargs)
            patch_size = self.vit.patch_embed.patch_size[0]
            self._check_size(patch_size)
            self.normalize = ImageNormalize.from_pretrained_cfg(getattr(self.vit, "pretrained_cfg", None) or {})
        self.patch_size = patch_size
        self.grid = (height // patch_size, width // patch_size)
        self.embed_dim = self.vit.embed_dim
        self.num_prefix_tokens = int(self.vit.num_prefix_tokens)
        if checkpoint is not None:
            self.load_pretrained(checkpoint)

    def _check_size(self, patch_size: int) -> None:
        height, width = self.img_size
        if height % patch_size or width % patch_size:
            raise ValueError(f"img_size: expected multiples of patch_size={patch_size}, got {self.img_size}")

    @staticmethod
    def _create_timm(name, img_size, patch_size, drop_path_rate, timm_kwargs) -> VisionTransformer:
        import timm

        if not timm.is_model(name):
            raise ValueError(
                f"preset: expected one of {tuple(VIT_PRESETS)} or a timm ViT name (timm.list_models('vit_*')), "
                f"got {name!r}"
            )
        if patch_size is not None:
            timm_kwargs = {**timm_kwargs, "patch_size": patch_size}
        try:
            model = timm.create_model(
                name, pretrained=False, img_size=img_size, num_classes=0, global_pool="",
                drop_path_rate=drop_path_rate, **timm_kwargs,
            )  # fmt: skip
        except TypeError as error:  # a non-ViT family does not take ViT arguments
            raise ValueError(f"preset: {name!r} is not a timm VisionTransformer ({error})") from None
        if not isinstance(model, VisionTransformer):
            raise ValueError(f"preset: {name!r} is a timm {type(model).__name__}, expected a VisionTransformer")
        return model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        expect_shape("image", image, "B 3 H W", {"H": self.img_size[0], "W": self.img_size[1]})
        expect_float("image", image)
        tokens = self.vit.forward_features(self.normalize(image))
        return tokens[:, self.num_prefix_tokens :]  # the patches; cls / register tokens are not on the grid

    def load_pretrained(self, path: str | os.PathLike) -> None:
        """Load a local timm ViT state_dict, trained at any resolution and with or without a class token.

        The classifier, the class (and register) tokens and their position embeddings are dropped; the
        patch position embeddings are resized from the checkpoint's grid (square, e.g. 14 x 14 for
        224 pixels, or already this model's grid) to ``grid`` by timm's bicubic
        ``resample_abs_pos_embed``. Everything else must fit exactly, or ``ValueError`` names what did not.
        """
        state = read_state_dict(path)
        if self.preset not in VIT_PRESETS:  # a timm name: timm's own filter resizes pos_embed, prefix kept
            from timm.models.vision_transformer import checkpoint_filter_fn

            state = {k: v for k, v in checkpoint_filter_fn(state, self.vit).items() if not k.startswith("head")}
            self._load_exact(state, path)
            return
        prefix_tokens = sum(int(state[k].shape[1]) for k in ("cls_token", "reg_token", "dist_token") if k in state)
        state = {k: v for k, v in state.items() if not k.startswith(_DROPPED)}
        if "pos_embed" in state:
            state["pos_embed"] = self._resize_pos_embed(state["pos_embed"], prefix_tokens, path)
        self._load_exact(state, path)

    def _load_exact(self, state: dict, path) -> None:
        own = self.vit.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        resized = [k for k in own if k in state and state[k].shape != own[k].shape]
        if missing or unexpected or resized:
            raise ValueError(
                f"checkpoint {os.fspath(path)!r} does not fit ViT preset {self.preset!r}: missing keys "
                f"{missing[:5]}, unexpected keys {unexpected[:5]}, other shapes {resized[:5]}"
            )
        self.vit.load_state_dict(state)

    def _resize_pos_embed(self, pos_embed: torch.Tensor, prefix_tokens: int, path) -> torch.Tensor:
        patches = pos_embed[:, prefix_tokens:]  # drop the class token's position
        tokens = patches.shape[1]
        if tokens == self.grid[0] * self.grid[1]:
            return patches
        side = math.isqrt(tokens)
        if side * side != tokens:
            raise ValueError(
                f"checkpoint {os.fspath(path)!r}: pos_embed has {tokens} patch positions, neither a square "
                f"grid nor this model's {self.grid[0]} x {self.grid[1]}"
            )
        return resample_abs_pos_embed(patches, list(self.grid), old_size=[side, side], num_prefix_tokens=0)

    def extra_repr(self) -> str:
        return f"preset={self.preset!r}, img_size={self.img_size}, grid={self.grid}, embed_dim={self.embed_dim}"

"""Per-channel image normalisation, the first layer of every reference model.

Datasets hand models RGB frames in [0, 1] (:mod:`posemods.data.clip`). Backbones trained elsewhere
expect their own input statistics, so a model that loads such a checkpoint must see frames normalised
the same way. Those statistics differ between checkpoints (ImageNet's for timm's ResNets and for
ViTPose, (0.5, 0.5, 0.5) for timm's augreg ViTs, CLIP's for CLIP towers), and timm records them in
each model's ``pretrained_cfg``: :meth:`ImageNormalize.from_pretrained_cfg` reads them from there.
The statistics are non-persistent buffers: they follow ``.to()`` but stay out of ``state_dict``, so
checkpoints do not change.
"""

from __future__ import annotations

import torch
from torch import nn

#: ImageNet RGB statistics of inputs in [0, 1], as timm's and torchvision's CNNs and ViTs were trained.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageNormalize(nn.Module):
    """``image (..., 3, H, W) in [0, 1] -> (image - mean) / std`` per channel."""

    def __init__(
        self, mean: tuple[float, float, float] = IMAGENET_MEAN, std: tuple[float, float, float] = IMAGENET_STD
    ) -> None:
        super().__init__()
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean, std: expected 3 values each (RGB), got {len(mean)} and {len(std)}")
        if min(std) <= 0:
            raise ValueError(f"std: expected positive values, got {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1), persistent=False)

    @classmethod
    def from_pretrained_cfg(cls, cfg) -> ImageNormalize:
        """The statistics a timm model's weights were trained with: ``cfg["mean"]``, ``cfg["std"]``.

        ``cfg`` is a timm model's ``pretrained_cfg`` (a dict, or timm's ``PretrainedCfg``). A config
        without statistics (a model built outside timm's registry) falls back to ImageNet's.
        """
        get = cfg.get if isinstance(cfg, dict) else lambda key, default=None: getattr(cfg, key, default)
        mean, std = get("mean", None), get("std", None)
        if mean is None or std is None:
            return cls()
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)

    def extra_repr(self) -> str:
        mean, std = (tuple(round(v, 4) for v in t.flatten().tolist()) for t in (self.mean, self.std))
        return f"mean={mean}, std={std}"

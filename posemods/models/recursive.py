"""The frame-by-frame recursion of KIMNet, RPSTN and DKD: one model, configured by a named table.

Frame 1 gets its heatmaps from a pose initializer. Every later frame t gets them from the previous
frame's heatmaps and features and its own features, through a temporal module, an optional
correction and an optional decoder (KIMNet eq. 2):

    m_1 = decoder(initializer(I_1))
    m_t = decoder(correction(temporal(f_{t-1}, f_t, m_{t-1}), f_t)),   f_t = encoder(I_t)

Which blocks exist is data: a row of :data:`posemods.variants.RECURSIVE_VARIANTS`, picked by the
family (``KIMNet``, ``RPSTN``, ``DKD`` are presets of this class) and ``temporal``.

The recursion, the decoder of frame 1 and its sharing by every frame were held against the RPSTN
authors' ``lib/models/dkd_net.py:DKD_Network.forward`` (github:YHDang/RPSTN f7dcd3e); the decoder is
:class:`~posemods.models.relation.RelationDecoder`, the pose initializer and the feature encoder are
their ``pose_resnet.py:get_pose_net``'s two SimpleBaselines (to the parameter).

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import ClassVar

import torch
from torch import nn

from posemods._shapes import expect_choice, expect_float, expect_module_dtype, expect_positive, expect_shape
from posemods.models.checkpoint import load_checkpoint
from posemods.models.correction import PriorCorrection
from posemods.models.normalize import IMAGENET_MEAN, IMAGENET_STD
from posemods.models.relation import RelationDecoder
from posemods.models.simple_baseline import SimpleBaseline
from posemods.models.temporal import build_temporal
from posemods.variants import RECURSIVE_VARIANTS, cli_variants, default_variant

# Two backbones (initializer, encoder) and the encoder width C. "tiny" is for tests (seconds on a
# CPU core at 32 x 32), "small" for the CPU demos (64 x 64 to 128 x 128), "paper" for the tables.
SIZE_PRESETS = {
    "tiny": {"initializer_backbone": "resnet10t", "encoder_backbone": "resnet10t", "channels": 16},
    "small": {"initializer_backbone": "resnet10t", "encoder_backbone": "resnet10t", "channels": 64},
    "paper": {"initializer_backbone": "resnet101", "encoder_backbone": "resnet50", "channels": 256},
}


def registration(family: str) -> dict:
    """The default configuration KIMNet, RPSTN and DKD register with (``@register_model(family,
    **registration(family))``): the papers' 256 x 256 crops of Penn Action (13 joints), T = 5, ResNet
    backbones (inputs in multiples of their stride 32, normalised with ImageNet's statistics), and the
    variants of the family's rows in :data:`~posemods.variants.RECURSIVE_VARIANTS` and paper tables."""
    return {
        "variants": cli_variants(family),
        "default_variant": default_variant(family),
        "presets": SIZE_PRESETS,
        "num_joints": 13,
        "input_size": (256, 256),
        "clip_length": 5,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "input_multiple": 32,
    }


class RecursivePoseModel(nn.Module):
    """``video (B, T, 3, H, W) -> heatmaps (B, T, J, H / 4, W / 4)``, one frame after another.

    ``model(video)`` runs a clip (the encoder batched over its frames); ``model.stream(frames)``
    runs a video of any length frame by frame, carrying the state, and yields the same heatmaps.

    Args:
        num_joints: J.
        temporal: the variant, a key of ``RECURSIVE_VARIANTS[family]`` (the family's first by default).
        initializer_backbone: timm backbone of the SimpleBaseline pose initializer (frame 1).
        encoder_backbone: timm backbone of the SimpleBaseline feature encoder (all frames).
        channels: C, the encoder's output width.
        backend: the KMM backend, ``"auto"``, ``"reference"`` or ``"triton"``.
        initializer_checkpoint, encoder_checkpoint: local state_dicts of the two SimpleBaselines
            (e.g. trained on MPII, as in the papers). Nothing is ever downloaded.
        checkpoint: a local state_dict of the whole model, loaded last.
        temporal_kwargs: extra arguments of the temporal module (e.g. ``{"resolution": 32}`` for KMM).
        family: ``"kimnet"``, ``"rpstn"`` or ``"dkd"``; the presets set it.
    """

    #: The family the presets (KIMNet, RPSTN, DKD) fix; the class itself takes ``family=``.
    family: str | None = None

    #: family -> its preset class (KIMNet, RPSTN, DKD), filled as they are defined.
    presets: ClassVar[dict[str, type[RecursivePoseModel]]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.family is not None:
            RecursivePoseModel.presets[cls.family] = cls

    @classmethod
    def create(cls, family: str, *args, **kwargs) -> RecursivePoseModel:
        """Build ``family``'s model as its preset class (so ``isinstance(m, KIMNet)`` holds)."""
        expect_choice("family", family, tuple(RECURSIVE_VARIANTS))
        return cls.presets.get(family, RecursivePoseModel)(*args, family=family, **kwargs)

    def __init__(
        self,
        num_joints: int = 13,
        temporal: str | None = None,
        initializer_backbone: str = "resnet101",
        encoder_backbone: str = "resnet50",
        channels: int = 256,
        backend: str = "auto",
        initializer_checkpoint: str | os.PathLike | None = None,
        encoder_checkpoint: str | os.PathLike | None = None,
        checkpoint: str | os.PathLike | None = None,
        temporal_kwargs: dict | None = None,
        family: str | None = None,
    ) -> None:
        super().__init__()
        family = type(self).family if family is None else family
        expect_choice("family", family, tuple(RECURSIVE_VARIANTS))
        temporal = default_variant(family) if temporal is None else temporal
        expect_choice("temporal", temporal, tuple(RECURSIVE_VARIANTS[family]))
        num_joints = expect_positive("num_joints", num_joints)
        channels = expect_positive("channels", channels)
        row = RECURSIVE_VARIANTS[family][temporal]
        self.family, self.mode, self.num_joints, self.channels = family, temporal, num_joints, channels
        self.heatmap_inputs = row["inputs"] == "heatmaps"
        self.initializer = SimpleBaseline(initializer_backbone, num_joints, checkpoint=initializer_checkpoint)
        self.encoder = SimpleBaseline(encoder_backbone, None, channels, checkpoint=encoder_checkpoint)
        self.temporal: nn.Module | None = None
        if row["temporal"] is not None:
            width = num_joints if self.heatmap_inputs else channels
            self.temporal = build_temporal(
                row["temporal"], width, num_joints, backend=backend, **(temporal_kwargs or {})
            )
        self.correction: PriorCorrection | None = None
        if row["correction"]:
            prior = num_joints if "prior" in row["correction"] else 0
            features = channels if "features" in row["correction"] else 0
            self.correction = PriorCorrection(prior, features, channels, num_joints)
        self.decoder: nn.Module | None = RelationDecoder(num_joints) if row["decoder"] else None
        if checkpoint is not None:
            load_checkpoint(self, checkpoint)

    def _check(self, name: str, tensor: torch.Tensor, spec: str) -> None:
        expect_shape(name, tensor, spec, {})
        expect_float(name, tensor)
        # A float64 video into a float32 model failed in the first conv, naming neither.
        expect_module_dtype(name, tensor, self)

    def _empty(self, batch_shape: tuple[int, ...], height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """The output for B = 0: no frame to run, but the same size checks as a real input."""
        reduction = max(self.encoder.backbone.input_multiple, self.initializer.backbone.input_multiple)
        if height % reduction or width % reduction:
            raise ValueError(
                f"image: expected H and W to be multiples of the backbone's stride {reduction}, got {height} x {width}"
            )
        return like.new_zeros(*batch_shape, self.num_joints, height // 4, width // 4)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Return the heatmaps of every frame, (B, T, J, H / 4, W / 4)."""
        self._check("video", video, "B T 3 H W")
        batch, frames, _, height, width = video.shape
        if frames == 0:
            raise ValueError(f"video: expected at least one frame (T >= 1), got shape {tuple(video.shape)}")
        if batch == 0:
            return self._empty((0, frames), height, width, video)

        heatmap = self._decode(self.initializer(video[:, 0]))
        outputs = [heatmap]
        if frames > 1:
            # Without a temporal module, or with one on heatmaps, the first frame's features are never used.
            first = 0 if self.temporal is not None and not self.heatmap_inputs else 1
            features = self.encoder(video[:, first:].flatten(0, 1)).unflatten(0, (batch, frames - first))
            current = None
            if self.heatmap_inputs:
                current = self.initializer(video[:, 1:].flatten(0, 1)).unflatten(0, (batch, frames - 1))
            for t in range(1, frames):
                feat_prev = features[:, t - 1 - first] if first == 0 else None
                cur_heatmap = current[:, t - 1] if current is not None else None
                outputs.append(self.step(feat_prev, features[:, t - first], outputs[-1], cur_heatmap))
        return torch.stack(outputs, dim=1)

    def stream(self, frames: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Run a whole video frame by frame: ``frames`` yields (B, 3, H, W), this yields (B, J, H / 4, W / 4).

        "KIMNet recursively estimates human poses from each frame" (KIMNet section 3.2): the pose
        initializer runs on the first frame only, and each later frame starts from the previous
        frame's heatmaps (and features), as LSTM Pose Machines' test code runs each sequence from
        its first frame to its end. Only the last frame's state is kept, so under
        ``torch.no_grad()`` memory does not grow with the video's length (with gradients, each
        output keeps its graph, which reaches back to frame 1). The outputs equal ``model(video)``
        on the same frames, up to float rounding of the batched encoder.
        """
        heatmap = feat_prev = None
        size = None
        for t, frame in enumerate(frames):
            name = f"frames[{t}]"
            self._check(name, frame, "B 3 H W")
            if size is None:
                size = tuple(frame.shape)
            elif tuple(frame.shape) != size:
                raise ValueError(f"{name}: expected the shape of frames[0] {size}, got {tuple(frame.shape)}")
            if frame.shape[0] == 0:
                yield self._empty((0,), frame.shape[-2], frame.shape[-1], frame)
                continue
            if t == 0:
                heatmap = self._decode(self.initializer(frame))
                if self.temporal is not None and not self.heatmap_inputs:
                    feat_prev = self.encoder(frame)
            else:
                feat_cur = self.encoder(frame)
                cur_heatmap = self.initializer(frame) if self.heatmap_inputs else None
                heatmap = self.step(feat_prev, feat_cur, heatmap, cur_heatmap)
                if feat_prev is not None:
                    feat_prev = feat_cur
            yield heatmap

    def _decode(self, heatmap: torch.Tensor) -> torch.Tensor:
        return self.decoder(heatmap) if self.decoder is not None else heatmap

    def step(
        self,
        feat_prev: torch.Tensor | None,
        feat_cur: torch.Tensor,
        heatmap_prev: torch.Tensor,
        heatmap_cur: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One later frame: (B, C, h, w), (B, C, h, w), (B, J, h, w) -> heatmaps (B, J, h, w).

        ``heatmap_cur`` (B, J, h, w), the initializer's heatmaps of this frame, is what the
        ``"heatmap"`` variant correlates with ``heatmap_prev`` in place of the two frames' features.
        """
        prior = None
        if self.temporal is not None:
            if self.heatmap_inputs:
                # The decoded m_{t-1} and the initializer's raw maps may differ in dtype under autocast.
                prior = self.temporal(heatmap_prev, heatmap_cur.to(heatmap_prev.dtype), heatmap_prev)
            else:
                prior = self.temporal(feat_prev, feat_cur, heatmap_prev)
        x = prior
        if self.correction is not None:
            x = self.correction(
                prior if self.correction.prior_channels else None,
                feat_cur if self.correction.feature_channels else None,
            )
        return self._decode(x)

    def extra_repr(self) -> str:
        return f"num_joints={self.num_joints}, temporal={self.mode!r}"

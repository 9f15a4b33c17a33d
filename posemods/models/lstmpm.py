"""LSTM Pose Machines (Luo et al., CVPR 2018), as KIMNet's Table 1 and 2 compare against it.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from posemods._shapes import expect_choice, expect_float, expect_module_dtype, expect_positive, expect_shape
from posemods.models._registry import register_model
from posemods.models.checkpoint import load_checkpoint
from posemods.models.conv_lstm import ConvLSTMCell
from posemods.models.correction import PriorCorrection
from posemods.models.normalize import ImageNormalize
from posemods.modules.kmm import KinematicsModelingModule as KMM
from posemods.variants import LSTMPM_VARIANTS, cli_variants

#: LSTMPM's input statistics: frames are centred only (``x - 0.5``), as its code feeds ``pixel / 256 - 0.5``.
CENTRE_MEAN = (0.5, 0.5, 0.5)
CENTRE_STD = (1.0, 1.0, 1.0)
#: Input pixels per output pixel: three 3x3/2 max-pools.
STRIDE = 8


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2), nn.ReLU(inplace=True)]


def _cpm_trunk() -> list[nn.Module]:
    """CPM's image trunk: three 9x9 convs each followed by a 3x3/2 max-pool, then a 5x5 conv to 32."""
    layers: list[nn.Module] = []
    width = 3
    for _ in range(3):
        # ceil_mode as in Caffe, so 368 -> 184 -> 92 -> 46.
        layers += [*_conv_relu(width, 128, 9), nn.MaxPool2d(3, 2, ceil_mode=True)]
        width = 128
    return [*layers, *_conv_relu(128, 32, 5)]


def centre_gaussian(batch: int, size: tuple[int, int], sigma: float, like: torch.Tensor) -> torch.Tensor:
    """LSTMPM's centre map for centred person crops: a Gaussian at the image centre, (B, 1, H, W)."""
    height, width = size
    ys = torch.arange(height, device=like.device, dtype=like.dtype) - (height - 1) / 2
    xs = torch.arange(width, device=like.device, dtype=like.dtype) - (width - 1) / 2
    gauss = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))
    return gauss.expand(batch, 1, height, width)


@register_model(
    "lstmpm",
    variants=cli_variants("lstmpm"),
    default_variant=LSTMPM_VARIANTS[0],
    # LSTMPM's CPM trunk has no backbone choice; only the ConvLSTM width changes.
    presets={"tiny": {"hidden_channels": 8}, "small": {"hidden_channels": 24}, "paper": {}},
    num_joints=13,
    input_size=(368, 368),
    clip_length=5,
    mean=CENTRE_MEAN,
    std=CENTRE_STD,
    stride=STRIDE,
    extra_maps=1,  # the background map after the joints
)
class LSTMPM(nn.Module):
    """``video (B, T, 3, H, W) -> heatmaps (B, T, J + 1, H / 8, W / 8)``, the last map the background.

    The paper's size is 368 x 368 -> 46 x 46. Frames are RGB in [0, 1] and are centred first
    (``x - 0.5``, as LSTMPM's code feeds ``pixel / 256 - 0.5``), by a ``normalize`` layer with no
    saved state.

    - ``initializer``: CPM's first stage on frame 1 (the three-pool trunk, 9x9 conv to 512, two 1x1
      convs) -> J + 1 maps.
    - ``encoder``: a separate CPM trunk shared by all frames -> ``f_t``, 32 channels at 1/8.
    - ``decoder``: shared by all frames: three 11x11 convs and two 1x1 convs, 48 -> J + 1.

    What ``temporal`` changes:

    ==============  =============================================================================
    ``"original"``  A ConvLSTM (48 hidden channels) fed ``x_t = concat[f_t, m_{t-1}, centre]``,
                    where ``m_0`` is the initializer's output; the decoder reads its hidden state.
                    Frame 1 uses a first-stage cell without previous state.
    ``"kmm"``       Both cells are replaced by ``KMM`` plus KIMNet's correction:
                    ``Conv_d(Conv_g(concat[KMM(f_{t-1}, f_t, m_{t-1}), f_t, centre]))`` with
                    ``Conv_g`` to 48 channels and ``Conv_d`` 48 -> 48, the width the decoder reads.
                    The recursion becomes Markov: no hidden or cell state is carried. Frame 1
                    uses ``KMM(f_1, f_1, m_0)``, since there is no earlier frame.
    ==============  =============================================================================

    Args:
        num_joints: J, without the background.
        temporal: ``"original"`` or ``"kmm"``.
        hidden_channels: the ConvLSTM width (48).
        centre_sigma: of the default centre map, in pixels at 368 x 368 (scaled with the input).
        backend: the KMM backend.
        checkpoint: a local state_dict of the whole model.
    """

    feature_channels = 32

    def __init__(
        self,
        num_joints: int = 13,
        temporal: str = "original",
        hidden_channels: int = 48,
        centre_sigma: float = 21.0,
        backend: str = "auto",
        checkpoint: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        expect_positive("num_joints", num_joints)
        expect_choice("temporal", temporal, ("original", "kmm"))
        self.num_joints = num_joints
        self.mode = temporal
        self.centre_sigma = centre_sigma
        maps = num_joints + 1
        self.normalize = ImageNormalize(mean=CENTRE_MEAN, std=CENTRE_STD)
        self.initializer = nn.Sequential(
            *_cpm_trunk(), *_conv_relu(32, 512, 9), *_conv_relu(512, 512, 1), nn.Conv2d(512, maps, 1)
        )
        self.encoder = nn.Sequential(*_cpm_trunk())
        step_inputs = self.feature_channels + maps + 1
        if temporal == "original":
            self.first_cell = ConvLSTMCell(step_inputs, hidden_channels, recurrent=False)
            self.cell = ConvLSTMCell(step_inputs, hidden_channels)
        else:
            self.temporal = KMM(self.feature_channels, maps, backend=backend)
            self.correction = PriorCorrection(maps, self.feature_channels + 1, hidden_channels, hidden_channels)
        self.decoder = nn.Sequential(
            *_conv_relu(hidden_channels, 128, 11),
            *_conv_relu(128, 128, 11),
            *_conv_relu(128, 128, 11),
            *_conv_relu(128, 128, 1),
            nn.Conv2d(128, maps, 1),
        )
        if checkpoint is not None:
            load_checkpoint(self, checkpoint)

    stride = STRIDE

    def _check(self, name: str, tensor: torch.Tensor, spec: str, dims: dict[str, int]) -> None:
        expect_shape(name, tensor, spec, dims)
        expect_float(name, tensor)
        expect_module_dtype(name, tensor, self)
        height, width = tensor.shape[-2:]
        if height % self.stride or width % self.stride:
            # The ceil-mode pools would round: 33 x 33 gave 5 x 5 maps where 33 / 8 is not a size.
            raise ValueError(
                f"{name}: expected H and W to be multiples of LSTMPM's stride {self.stride}, got {height} x {width}"
            )

    def _centre(self, centre_map: torch.Tensor | None, like: torch.Tensor, dims: dict[str, int]) -> torch.Tensor:
        """The centre map (B, 1, H, W) of ``like`` (B, 3, H, W): given, or a Gaussian at the centre."""
        batch, _, height, width = like.shape
        if centre_map is None:
            return centre_gaussian(batch, (height, width), self.centre_sigma * height / 368, like)
        expect_shape("centre_map", centre_map, "B 1 H W", dims)
        return centre_map

    def _step(self, t: int, feat_prev, feat, heatmap, centre, state):
        """Frame t: its features (B, 32, h, w) and the carried state -> (heatmaps (B, J + 1, h, w), state)."""
        if self.mode == "original":
            x = torch.cat([feat, heatmap, centre], dim=1)
            state = self.first_cell(x) if t == 0 else self.cell(x, state)
            hidden = state[0]
        else:
            prior = self.temporal(feat_prev, feat, heatmap)
            hidden = self.correction(prior, torch.cat([feat, centre], dim=1))
        return self.decoder(hidden), state

    def forward(
        self, video: torch.Tensor, centre_map: torch.Tensor | None = None, return_initial: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Return the heatmaps (B, T, J + 1, h, w), and the initializer's (B, J + 1, h, w) if asked.

        ``centre_map`` (B, 1, H, W) marks the person's centre; by default a Gaussian at the image centre.
        """
        dims: dict[str, int] = {}
        self._check("video", video, "B T 3 H W", dims)
        batch, frames = video.shape[:2]
        if frames == 0:
            raise ValueError(f"video: expected at least one frame (T >= 1), got shape {tuple(video.shape)}")
        centre_map = self._centre(centre_map, video[:, 0], dims)

        video = self.normalize(video)
        initial = self.initializer(video[:, 0])
        features = self.encoder(video.flatten(0, 1)).unflatten(0, (batch, frames))
        centre = F.adaptive_avg_pool2d(centre_map.to(features.dtype), features.shape[-2:])

        outputs, state, heatmap = [], None, initial
        for t in range(frames):
            heatmap, state = self._step(t, features[:, max(t - 1, 0)], features[:, t], heatmap, centre, state)
            outputs.append(heatmap)
        heatmaps = torch.stack(outputs, dim=1)
        return (heatmaps, initial) if return_initial else heatmaps

    def stream(self, frames: Iterable[torch.Tensor], centre_map: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        """Run a whole video frame by frame: ``frames`` yields (B, 3, H, W), this yields (B, J + 1, h, w).

        As LSTMPM's own test code does ("run each test sequence from its first frame to its end"):
        the initializer on frame 1 only, then the ConvLSTM state (or, for ``"kmm"``, the last
        features and heatmaps) carried from frame to frame. Only the last frame's state is kept, so
        under ``torch.no_grad()`` memory does not grow with the video; the outputs equal
        ``model(video)`` on the same frames up to float rounding of the batched encoder.
        """
        dims: dict[str, int] = {}
        state = heatmap = feat_prev = centre = None
        for t, frame in enumerate(frames):
            name = f"frames[{t}]"
            self._check(name, frame, "B 3 H W", dims)
            image = self.normalize(frame)
            feat = self.encoder(image)
            if t == 0:
                heatmap = self.initializer(image)
                centre_full = self._centre(centre_map, frame, dims)
                centre = F.adaptive_avg_pool2d(centre_full.to(feat.dtype), feat.shape[-2:])
            heatmap, state = self._step(t, feat if t == 0 else feat_prev, feat, heatmap, centre, state)
            feat_prev = feat
            yield heatmap

    def extra_repr(self) -> str:
        return f"num_joints={self.num_joints}, temporal={self.mode!r}"

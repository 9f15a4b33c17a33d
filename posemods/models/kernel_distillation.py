"""Temporal modules that distil the last pose into kernels and match them in the current frame.

- :class:`PoseKernelDistillator`: the pose kernel distillation of DKD (Nie et al., ICCV 2019) as the
  RPSTN authors implemented it, the propagation step of their RPSTN.
- :class:`JRPSP`: RPSTN's joint relation guided pose semantics propagator (Dang et al., TIP 2022) as
  a stand-alone block: the distillator fed heatmaps refined by a joint relation extractor.

Held against github:YHDang/RPSTN at commit f7dcd3e, ``lib/models/dkd_net.py`` (``DKD_Network``) and
``lib/models/module/ad_conv.py`` (``AdaptiveConv2d``). That repository holds no separate DKD model:
``DKD_Network`` is RPSTN itself (``pose_estimation/1_train_penn.py`` trains it), DKD's kernel
distillation with the joint relation extractor as its decoder. Both blocks implement the
temporal-module contract of :mod:`posemods.models.temporal`. Shapes use the vocabulary of
:mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from posemods._resize import resize
from posemods._shapes import expect_positive
from posemods.models.relation import RelationDecoder
from posemods.modules.temporal import check_temporal_inputs


def depthwise_correlate(features: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Correlate each sample's channels with its own kernels.

    ``features (B, C, H, W)``, ``kernels (B, C, k, k)`` with k odd -> ``(B, C, H, W)``, where
    ``out[b, c, y, x] = sum_{u, v} kernels[b, c, u, v] * features[b, c, y + u - k // 2, x + v - k // 2]``
    (zero padding). One grouped conv over the folded batch does every sample at once.

    Held against ``ad_conv.py:AdaptiveConv2d.forward`` as ``DKD_Network.forward`` calls it
    (``groups=B * C``, ``padding=3`` for its 7 x 7 kernels, no bias): a plain sum over the taps.
    """
    batch, channels, height, width = features.shape
    size = kernels.shape[-1]
    out = F.conv2d(
        features.reshape(1, batch * channels, height, width),
        kernels.reshape(batch * channels, 1, size, size),
        padding=size // 2,
        groups=batch * channels,
    )
    return out.reshape(batch, channels, height, width)


class _HalvingPool(nn.Module):
    """``nn.MaxPool2d(2)`` (floor mode) along each side of at least 4 pixels; shorter sides stay.

    At the paper's 64 x 64 maps every pool halves (62, 31, 15 -> 31, 15, 7), exactly the authors'
    pool. The exception only serves maps smaller than the paper's (the tiny presets): it keeps every
    map at least 2 pixels wide, so the BatchNorms after it have more than one value per channel
    even for a single clip in training.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = tuple(2 if side >= 4 else 1 for side in x.shape[-2:])
        return F.max_pool2d(x, kernel, stride=kernel)


class PoseKernelDistillator(nn.Module):
    """The RPSTN authors' kernel distillation: previous pose -> per-sample kernels -> matched in the current frame.

    ``(feat_prev (B, C, H, W), feat_cur (B, C, H, W), heatmap_prev (B, J, Hh, Wh)) -> (B, J, Hh, Wh)``

    1. ``f = BN_C(Conv_V(features))`` for both frames (a 1x1 conv, C -> C);
    2. ``pose = BN_C(Conv_reduce(concat[heatmap_prev, f_prev]))`` (heatmaps resized to H x W, joints
       first; a 1x1 conv J + C -> C; the same ``BN_C`` as in step 1);
    3. the kernel network: ``num_blocks`` x (3x3 conv, BN, ReLU, 2x2 max-pool), the first conv without
       padding, then a 3x3 conv and BN: at the paper's 64 x 64 maps 64 -> 62 -> 31 -> 15 -> 7, one
       7 x 7 kernel per channel and sample (B, C, 7, 7). An adaptive average pool to ``kernel_size``
       follows; at 64 x 64 it is the identity, at other sizes it makes the kernels k x k;
    4. the depthwise correlation of those kernels with ``f_cur`` (a sum over the taps);
    5. ``BN_J(Conv_U(response))``, a 1x1 conv C -> J, resized to (Hh, Wh).

    Held against ``dkd_net.py:DKD_Network`` of github:YHDang/RPSTN f7dcd3e: ``pose_conv1x1_V`` and
    ``bn`` (step 1), ``conv1x1_reduce_dim`` and the same ``bn`` (step 2), ``dkd_param_adapter``
    (step 3: every conv with a bias), ``AdaptiveConv2d`` (step 4), ``pose_conv1x1_U`` and ``bn_u``
    (step 5). Initialisation as ``DKD_Network.init_weights``: Kaiming-normal (fan_out, ReLU) weights
    and zero biases for ``conv1x1_reduce_dim`` and the kernel network's convs, BatchNorms at 1 and 0;
    ``pose_conv1x1_V`` and ``pose_conv1x1_U`` keep PyTorch's default initialisation, because
    ``init_weights`` loops over their ``named_modules()`` (name, module) pairs, which are never
    ``nn.Conv2d``. Parameters at C = 256, J = 13: 2,501,159, the sum of those modules in their code.

    Differences from that code, and why:

    - ``f_prev`` goes through step 1 in every call. ``DKD_Network.forward`` feeds the raw encoder
      features of frame 1 (``featmap_0``) when predicting frame 2 and the projected ones afterwards;
      a stateless temporal module cannot tell frame 2 apart, and every later frame already sees
      projected features.
    - ``bn_u`` is this module's own (``joint_norm``); theirs is shared with the decoder (see
      :class:`~posemods.models.relation.RelationDecoder`).
    - The adaptive pool of step 3, and a max-pool that leaves sides under 4 pixels alone: their
      ``padding=3`` only fits the 7 x 7 kernels of 64 x 64 maps, so their code runs at 256 x 256
      inputs only. Both are identities at that size.

    Args:
        in_channels: C.
        num_joints: J.
        kernel_size: k (odd), 7 in the authors' code.
        num_blocks: conv-BN-ReLU-pool blocks before the last conv-BN (3 in the authors' code).
    """

    def __init__(self, in_channels: int, num_joints: int, kernel_size: int = 7, num_blocks: int = 3) -> None:
        super().__init__()
        expect_positive("in_channels", in_channels)
        expect_positive("num_joints", num_joints)
        expect_positive("kernel_size", kernel_size)
        expect_positive("num_blocks", num_blocks)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd size so the match stays centred, got {kernel_size}")
        self.in_channels = in_channels
        self.num_joints = num_joints
        self.kernel_size = kernel_size
        self.project = nn.Conv2d(in_channels, in_channels, 1)
        self.reduce = nn.Conv2d(num_joints + in_channels, in_channels, 1)
        self.norm = nn.BatchNorm2d(in_channels)  # one BatchNorm for steps 1 and 2, as their ``bn``
        layers: list[nn.Module] = []
        for block in range(num_blocks):
            layers += [
                nn.Conv2d(in_channels, in_channels, 3, padding=0 if block == 0 else 1),
                nn.BatchNorm2d(in_channels),
                nn.ReLU(inplace=True),
                _HalvingPool(),
            ]
        layers += [nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.BatchNorm2d(in_channels)]
        self.kernel_net = nn.Sequential(*layers)
        self.to_joints = nn.Conv2d(in_channels, num_joints, 1)
        self.joint_norm = nn.BatchNorm2d(num_joints)
        for conv in (self.reduce, *(m for m in self.kernel_net if isinstance(m, nn.Conv2d))):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def kernels(self, feat_prev: torch.Tensor, heatmap_prev: torch.Tensor) -> torch.Tensor:
        """The distilled pose kernels (B, C, k, k) from the previous frame's features and heatmaps."""
        if feat_prev.shape[-2] < 3 or feat_prev.shape[-1] < 3:
            raise ValueError(
                f"feat_prev: the kernel network's first 3x3 conv has no padding, so the maps must be at least "
                f"3 x 3, got {tuple(feat_prev.shape[-2:])}"
            )
        heat = resize(heatmap_prev.to(feat_prev.dtype), tuple(feat_prev.shape[-2:]))
        f_prev = self.norm(self.project(feat_prev))
        pose = self.norm(self.reduce(torch.cat([heat, f_prev], dim=1)))
        return F.adaptive_avg_pool2d(self.kernel_net(pose), self.kernel_size)

    def forward(self, feat_prev: torch.Tensor, feat_cur: torch.Tensor, heatmap_prev: torch.Tensor) -> torch.Tensor:
        check_temporal_inputs(self, feat_prev, feat_cur, heatmap_prev)
        if feat_cur.shape[0] == 0:
            # An empty batch: nothing to distil (a grouped conv with 0 groups fails, and BatchNorm
            # would fold an empty batch's NaN statistics into its running ones).
            return heatmap_prev.new_zeros(heatmap_prev.shape, dtype=feat_cur.dtype)
        # The current frame first, as DKD_Network.forward: the shared BatchNorm's running statistics
        # depend on the order (f_prev's projection in kernels() is the one update theirs does not make).
        f_cur = self.norm(self.project(feat_cur))
        response = depthwise_correlate(f_cur, self.kernels(feat_prev, heatmap_prev))
        return resize(self.joint_norm(self.to_joints(response)), tuple(heatmap_prev.shape[-2:]))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, num_joints={self.num_joints}, kernel_size={self.kernel_size}"


class JRPSP(nn.Module):
    """RPSTN's joint relation guided pose semantics propagator, as a block that can stand in for KMM.

    ``(feat_prev (B, C, H, W), feat_cur (B, C, H, W), heatmap_prev (B, J, Hh, Wh)) -> (B, J, Hh, Wh)``

    The previous heatmaps pass through a :class:`~posemods.models.relation.RelationDecoder` (the
    joint relation extractor and its BatchNorm: the "joint relation guidance"), then a
    :class:`PoseKernelDistillator` propagates them into the current frame.

    In RPSTN itself (``dkd_net.py:DKD_Network.forward`` of github:YHDang/RPSTN f7dcd3e) the guidance
    is the decoder that every frame's heatmaps already went through, so :class:`~posemods.models.RPSTN`
    uses the bare :class:`PoseKernelDistillator` after its decoder (the authors' model exactly).
    This block carries its own relation extractor for KIMNet's Table 4, where "JRPSP" and "DKD" each
    replace KMM inside KIMNet and would otherwise be the same block.

    Args: as :class:`PoseKernelDistillator`.
    """

    def __init__(self, in_channels: int, num_joints: int, kernel_size: int = 7, num_blocks: int = 3) -> None:
        super().__init__()
        self.relation = RelationDecoder(num_joints)
        self.distillator = PoseKernelDistillator(in_channels, num_joints, kernel_size, num_blocks)
        self.in_channels = in_channels
        self.num_joints = num_joints

    def forward(self, feat_prev: torch.Tensor, feat_cur: torch.Tensor, heatmap_prev: torch.Tensor) -> torch.Tensor:
        check_temporal_inputs(self, feat_prev, feat_cur, heatmap_prev)
        if feat_cur.shape[0] == 0:  # an empty batch: see PoseKernelDistillator.forward
            return heatmap_prev.new_zeros(heatmap_prev.shape, dtype=feat_cur.dtype)
        return self.distillator(feat_prev, feat_cur, self.relation(heatmap_prev.to(feat_prev.dtype)))

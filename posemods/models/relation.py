"""RPSTN's joint relation extractor (Dang et al., TIP 2022) and the decoder KIMNet builds from it (eq. 6).

Held against the authors' code, github:YHDang/RPSTN at commit f7dcd3e (the repository KIMNet's
first author published for RPSTN): ``lib/models/module/jre_module.py`` (``_JREModule``) and the
way ``lib/models/dkd_net.py`` (``DKD_Network``) uses it. Shapes use the vocabulary of
:mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch
from torch import nn

from posemods._shapes import expect_float, expect_positive, expect_shape

#: The commit of github:YHDang/RPSTN that the RPSTN/DKD blocks were held against.
RPSTN_COMMIT = "f7dcd3e"


class JointRelationExtractor(nn.Module):
    """Refine each joint's heatmap with the heatmaps of the joints it resembles.

    ``heatmaps (B, J, H, W) -> (B, J, H, W)``, with ``x = heatmaps`` flattened to (B, J, L), L = H * W:

    - ``logits[b, k, i] = scale * <x[b, k], x[b, i]>``, a J x J Gram matrix of the raw heatmaps
      (``scale = 1``: the authors' code does not scale it);
    - ``attn[b, k, i] = softmax over k of logits[b, :, i]``: normalised over the *first* joint axis,
      so each column sums to 1 (not each row);
    - ``value = Conv_v(heatmaps)``, a 1x1 conv over the joint channels;
    - ``related[b, k] = sum_i attn[b, k, i] * value[b, i]``;
    - ``out = heatmaps + BN(Conv_o(related))``, a 1x1 conv and a BatchNorm whose weight and bias
      start at zero, so the block starts as the identity.

    Held against ``jre_module.py:_JREModule.forward`` of github:YHDang/RPSTN f7dcd3e, in the
    configuration ``dkd_net.py:DKD_Network.__init__`` builds (``JREModule(13, ..., sub_sample=False,
    in_split=False, is_joint=True, use_weight=False)``): ``g`` is ``value``, ``W = Sequential(conv,
    BatchNorm)`` is ``out`` and ``norm`` (``nn.init.constant_`` 0 on the BatchNorm's weight and
    bias), the logits are ``theta_x @ phi_x`` of the raw input, and ``F.softmax(f, dim=1)`` is the
    column normalisation above (the authors' commit 5a21f1d changed it from ``dim=-1``). The 1x1
    convs keep PyTorch's default initialisation, as theirs do: ``DKD_Network.init_weights`` means to
    re-initialise them but iterates ``named_modules()``, whose (name, module) pairs are never
    ``nn.Conv2d``.

    Two deliberate differences from that code:

    - **The joint axis is not scrambled.** ``_JREModule.forward`` ends the joint-level branch with
      ``y.permute(0, 2, 1).contiguous()`` and ``y.view(batch_size, self.inter_channels, *x.size()[2:])``:
      ``y`` is already (B, J, L) there (the permute belongs to the pixel-level branch, where ``y`` is
      (B, L, C)), so the view reads the (B, L, J) buffer as (B, J, H, W) and output channel ``k`` at
      pixel ``p`` receives joint ``(k * L + p) % J`` of pixel ``(k * L + p) // J``: every channel
      gets a stretched band of interleaved joints. Here ``related`` keeps its joint axis.
    - **No ``theta`` and ``phi`` convs.** ``_JREModule.__init__`` builds them (2 x (J * J + J)
      parameters, 364 at J = 13) but the joint-level branch never calls them.

    The forward also starts with a ``np.save('result/features/conv1.npy', ...)`` and a
    ``pdb.set_trace()``; the authors' code cannot run as published without removing them.

    Args:
        num_joints: J.
        scale: the logit multiplier (1, as the authors' code).
    """

    def __init__(self, num_joints: int, scale: float = 1.0) -> None:
        super().__init__()
        expect_positive("num_joints", num_joints)
        self.num_joints = num_joints
        self.scale = float(scale)
        self.value = nn.Conv2d(num_joints, num_joints, 1)
        self.out = nn.Conv2d(num_joints, num_joints, 1)
        self.norm = nn.BatchNorm2d(num_joints)
        nn.init.zeros_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)

    def forward(
        self, heatmaps: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Return the refined heatmaps (B, J, H, W), and the attention (B, J, J) if asked."""
        dims = {"J": self.num_joints}
        expect_shape("heatmaps", heatmaps, "B J H W", dims)
        expect_float("heatmaps", heatmaps)
        batch, joints, height, width = heatmaps.shape

        flat = heatmaps.reshape(batch, joints, height * width)  # (B, J, L)
        logits = torch.bmm(flat, flat.transpose(1, 2)) * self.scale  # (B, J, J)
        attn = torch.softmax(logits, dim=1)  # each column sums to 1, as F.softmax(f, dim=1)
        value = self.value(heatmaps).reshape(batch, joints, height * width)  # (B, J, L)
        related = torch.bmm(attn, value).reshape(batch, joints, height, width)
        out = heatmaps + self.norm(self.out(related))
        return (out, attn) if return_attention else out

    def extra_repr(self) -> str:
        return f"num_joints={self.num_joints}, scale={self.scale}"


class RelationDecoder(nn.Module):
    """KIMNet's and RPSTN's decoder: ``BN(JRE(heatmaps))``, (B, J, H, W) -> (B, J, H, W).

    Held against ``dkd_net.py:DKD_Network.forward`` of github:YHDang/RPSTN f7dcd3e, which decodes the
    initializer's heatmaps of frame 1 and the propagated heatmaps of every later frame with one
    ``non_local_conv2d`` (the :class:`JointRelationExtractor`) followed by ``bn_u``, a
    ``BatchNorm2d(J)``; the result is both the frame's output and the next frame's input. KIMNet's
    eq. 6 implements its decoder "by the joint relation extractor [12]" and posemods uses this one
    decoder for KIMNet, RPSTN and the retrofits.

    One difference: the authors' ``bn_u`` is a single BatchNorm that also normalises the kernel
    distillation's output (:class:`~posemods.models.kernel_distillation.PoseKernelDistillator`), so its
    running statistics average two different activations and in eval mode fit neither; here the
    decoder and the distillator each have their own (26 more parameters at J = 13).

    Args:
        num_joints: J.
    """

    def __init__(self, num_joints: int) -> None:
        super().__init__()
        self.relation = JointRelationExtractor(num_joints)
        self.norm = nn.BatchNorm2d(num_joints)
        self.num_joints = num_joints

    def forward(self, heatmaps: torch.Tensor) -> torch.Tensor:
        return self.norm(self.relation(heatmaps))

"""The RPSTN authors' model, step by step, as plain functions of their state_dict (eval-mode BatchNorm).

Written from reading github:YHDang/RPSTN at commit f7dcd3e, never from posemods:
``lib/models/dkd_net.py`` (``DKD_Network.forward``), ``lib/models/module/jre_module.py``
(``_JREModule.forward`` with ``is_joint=True``) and ``lib/models/module/ad_conv.py``
(``AdaptiveConv2d.forward``). Parameters are looked up by the keys of ``DKD_Network.state_dict()``
(``pose_conv1x1_V.weight``, ``dkd_param_adapter.4.bias``, ``non_local_conv2d.W.1.running_var``, ...),
so the authors' own state_dict can be passed in unchanged.

Two switches turn the authors' behaviour into posemods' deliberate differences:
``authors_reshape`` (their JRE's permute-then-view, which mixes joints and pixels) and
``project_first_frame`` (their forward feeds frame 1's raw encoder features to the first step).
"""

import torch
import torch.nn.functional as F


def _conv(x, sd, name, padding=0):
    return F.conv2d(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"), padding=padding)


def _bn(x, sd, name):
    return F.batch_norm(
        x,
        sd[f"{name}.running_mean"],
        sd[f"{name}.running_var"],
        sd[f"{name}.weight"],
        sd[f"{name}.bias"],
        False,
        0.0,
        1e-5,
    )


def authors_jre(x, sd, prefix="non_local_conv2d", authors_reshape=True):
    """``_JREModule.forward`` (is_joint=True, no sub-sampling, no manual graph), without its np.save/pdb."""
    b, c, h, w = x.shape
    g_x = _conv(x, sd, f"{prefix}.g").view(b, c, -1)  # [b, c, h*w]
    theta_x = x.view(b, c, -1)
    phi_x = x.view(b, c, -1).permute(0, 2, 1)
    f = torch.matmul(theta_x, phi_x)  # [b, c, c], no scaling
    f_div_c = torch.softmax(f, dim=1)
    y = torch.matmul(f_div_c, g_x)  # [b, c, h*w]
    # Theirs: permute to (b, h*w, c), then view as (b, c, h, w); the joint axis kept: a plain view.
    y = y.permute(0, 2, 1).contiguous().view(b, c, h, w) if authors_reshape else y.view(b, c, h, w)
    return _bn(_conv(y, sd, f"{prefix}.W.0"), sd, f"{prefix}.W.1") + x


def authors_adapter(x, sd):
    """``dkd_param_adapter``: [conv3x3 (no pad), BN, ReLU, pool] [conv3x3, BN, ReLU, pool] x 2, conv3x3, BN."""
    for i, pad in ((0, 0), (4, 1), (8, 1)):
        x = F.max_pool2d(F.relu(_bn(_conv(x, sd, f"dkd_param_adapter.{i}", pad), sd, f"dkd_param_adapter.{i + 1}")), 2)
    return _bn(_conv(x, sd, "dkd_param_adapter.12", 1), sd, "dkd_param_adapter.13")


def authors_adaptive_conv(f, kernels):
    """``AdaptiveConv2d(B*C, B*C, 7, padding=3, groups=B*C, bias=False)(f, kernels)``."""
    b, c, h, w = f.shape
    out = F.conv2d(f.contiguous().view(1, -1, h, w), kernels.view(-1, 1, *kernels.shape[-2:]), None, 1, 3, 1, b * c)
    return out.view(b, -1, out.shape[2], out.shape[3])


def authors_project(features, sd):
    """``self.bn(self.pose_conv1x1_V(f))``: what a frame's encoder features become before matching."""
    return _bn(_conv(features, sd, "pose_conv1x1_V"), sd, "bn")


def authors_propagate(h_prev, f_prev, features_cur, sd):
    """One step of the loop in ``DKD_Network.forward`` up to ``h = self.bn_u(confidences)``;
    returns ``(h, f)`` with ``f`` the projected current features (the next step's ``f_prev``)."""
    f = authors_project(features_cur, sd)
    con = _bn(_conv(torch.cat([h_prev, f_prev], dim=1), sd, "conv1x1_reduce_dim"), sd, "bn")
    con_map = authors_adaptive_conv(f, authors_adapter(con, sd))
    return _bn(_conv(con_map, sd, "pose_conv1x1_U"), sd, "bn_u"), f


def authors_rpstn(initial_heatmaps, features, sd, authors_reshape=True, project_first_frame=False):
    """``DKD_Network.forward`` from the initializer's heatmaps of frame 1 (B, J, h, w) and every frame's
    encoder features (a list of T (B, C, h, w)); returns (B, T, J, h, w)."""
    decode = lambda x: _bn(authors_jre(x, sd, authors_reshape=authors_reshape), sd, "bn_u")
    heat = decode(initial_heatmaps)
    beliefs = [heat]
    f_prev = authors_project(features[0], sd) if project_first_frame else features[0]
    for t in range(1, len(features)):
        h, f_prev = authors_propagate(heat, f_prev, features[t], sd)
        heat = decode(h)
        beliefs.append(heat)
    return torch.stack(beliefs, 1)

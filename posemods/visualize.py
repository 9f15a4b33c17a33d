"""Pictures of what a pose model sees and predicts: skeletons over frames, KMM's joint attention, HKM's masks.

Every drawing function takes plain tensors (and a joint layout), never a model, so it draws the
output of any model: KIMNet's KMM attention today, VREMD's HKM masks as they are. Needs matplotlib
(``pip install "posemods[viz]"``), imported when a function is called. Shapes use the vocabulary of
:mod:`posemods._shapes`.

The figures are :class:`matplotlib.figure.Figure` objects made without pyplot (matplotlib's
object-oriented API, as its "Embedding in a web application server" example does), so drawing
changes no global state: not the caller's backend (a notebook keeps its inline figures), and no
figure is left registered with pyplot. Show one in a notebook by returning it, or save it.
"""

from __future__ import annotations

import torch
from torch import nn

from posemods._optional import optional_import
from posemods.skeletons import Skeleton, get_skeleton


def _figure(**kwargs):
    """A new :class:`matplotlib.figure.Figure`, not managed by pyplot."""
    return optional_import("matplotlib.figure", "viz", "posemods.visualize").Figure(**kwargs)


def _image(frame: torch.Tensor):
    """(3, H, W) in [0, 1] -> (H, W, 3) numpy for imshow."""
    return frame.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def draw_skeleton(ax, joints: torch.Tensor, skeleton: Skeleton, color, visible: torch.Tensor | None = None, **kw):
    """Draw limbs and joints (J, 2) on a matplotlib axis; joints with ``visible == 0`` get hollow markers."""
    patheffects = optional_import("matplotlib.patheffects", "viz", "posemods.visualize")
    pts = joints.detach().float().cpu()
    outline = [patheffects.withStroke(linewidth=kw.get("linewidth", 1.5) + 1.5, foreground="black")]
    for a, b in skeleton.edge_index:
        if torch.isfinite(pts[[a, b]]).all():
            ax.plot(pts[[a, b], 0], pts[[a, b], 1], "-", color=color, linewidth=kw.get("linewidth", 1.5),
                    path_effects=outline)  # fmt: skip
    shown = torch.ones(len(pts), dtype=torch.bool) if visible is None else visible.cpu() > 0
    size = kw.get("markersize", 14)
    ax.scatter(pts[shown, 0], pts[shown, 1], s=size, color=color, edgecolors="black", linewidths=0.5, zorder=3)
    ax.scatter(pts[~shown, 0], pts[~shown, 1], s=size * 2.5, facecolors="none", edgecolors=color, linewidths=1.5,
               zorder=3)  # fmt: skip


def plot_skeletons(
    frames: torch.Tensor,
    truth: torch.Tensor,
    prediction: torch.Tensor,
    layout: str | Skeleton,
    visibility: torch.Tensor | None = None,
    title: str | None = None,
):
    """One row of frames (T, 3, H, W) with the ground-truth (T, J, 2) and predicted (T, J, 2) skeletons.

    Ground truth is green, the prediction orange; ground-truth joints with ``visibility`` (T, J) 0
    (occluded) are hollow circles. Returns the matplotlib figure.
    """
    skeleton = get_skeleton(layout)
    t = frames.shape[0]
    fig = _figure(figsize=(2.6 * t, 2.9))
    axes = fig.subplots(1, t, squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(_image(frames[i]), interpolation="nearest")
        draw_skeleton(ax, truth[i], skeleton, "#00e676", None if visibility is None else visibility[i])
        draw_skeleton(ax, prediction[i], skeleton, "#ff9100", linewidth=1.2)
        ax.set_title(f"frame {i + 1}", fontsize=9)
        ax.set_axis_off()
    Line2D = optional_import("matplotlib.lines", "viz", "posemods.visualize").Line2D
    fig.legend(
        handles=[Line2D([], [], color="#00e676", label="ground truth (hollow: occluded)"),
                 Line2D([], [], color="#ff9100", label="prediction")],
        loc="lower center", ncol=2, fontsize=8, frameon=False,
    )  # fmt: skip
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_joint_attention(attention: torch.Tensor, layout: str | Skeleton, title: str | None = None):
    """A J x J attention map (rows: the joint attending, columns: the joint attended) with joint names.

    Like KIMNet's Fig. 4: ``attention`` (J, J) is KMM's ``A`` for one clip (average over frames or
    batches before calling, if wanted). Returns the matplotlib figure.
    """
    skeleton = get_skeleton(layout)
    names = [n.replace("left_", "l_").replace("right_", "r_") for n in skeleton.joint_names]
    j = len(names)
    fig = _figure(figsize=(0.42 * j + 2.2, 0.42 * j + 1.2))
    ax = fig.subplots()
    image = ax.imshow(attention.detach().float().cpu().numpy(), cmap="viridis")
    ax.set_xticks(range(j), names, rotation=90, fontsize=8)
    ax.set_yticks(range(j), names, fontsize=8)
    ax.set_xlabel("attended joint (previous frame)")
    ax.set_ylabel("joint (current frame)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_token_masks(frames: torch.Tensor, masks: dict[str, torch.Tensor], title: str | None = None):
    """Masks over the frames: one row per entry of ``masks``, one column per frame.

    ``frames`` (T, 3, H, W); each mask (T, h, w) on the token grid (e.g. HKM's ``human_mask`` and
    ``keypoint_mask`` (B, T, L) of one clip, reshaped to the backbone's h x w patch grid). Each mask
    is upsampled to H x W and drawn over the frame, normalised per frame to [0, 1].
    """
    t, _, height, width = frames.shape
    fig = _figure(figsize=(2.4 * t, 2.5 * len(masks)))
    axes = fig.subplots(len(masks), t, squeeze=False)
    for row, (name, mask) in enumerate(masks.items()):
        m = mask.detach().float().cpu()
        lo, hi = m.flatten(1).min(1).values, m.flatten(1).max(1).values
        m = (m - lo[:, None, None]) / (hi - lo).clamp_min(1e-12)[:, None, None]
        up = nn.functional.interpolate(m[:, None], size=(height, width), mode="nearest")[:, 0]
        for i in range(t):
            ax = axes[row, i]
            ax.imshow(_image(frames[i]))
            ax.imshow(up[i].numpy(), cmap="magma", alpha=0.55, vmin=0, vmax=1)
            ax.set_axis_off()
            ax.set_title(f"{name}, frame {i + 1}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def kmm_attention(model: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """KMM's J x J attention at every call in ``model(video)``: (B, calls, J, J).

    One call per later frame (T - 1) for KIMNet, RPSTN and DKD; T for LSTMPM, which also calls KMM
    on the first frame.

    Works for any model whose temporal step calls a :class:`posemods.KMM` (KIMNet, RPSTN/DKD/LSTMPM
    with ``temporal="kmm"``): a forward hook records each call's inputs and re-runs KMM's forward
    on them with ``return_attention=True``. The model is not changed.
    """
    from posemods import KMM

    kmms = [m for m in model.modules() if isinstance(m, KMM)]
    if len(kmms) != 1:
        raise ValueError(f"model: expected exactly one KMM inside, found {len(kmms)}")
    found = []
    # forward() directly (not __call__), so the hook does not call itself.
    hook = kmms[0].register_forward_hook(lambda m, args, out: found.append(m.forward(*args, return_attention=True)[1]))
    try:
        model(video)
    finally:
        hook.remove()
    return torch.stack(found, dim=1)


def save(fig, path) -> None:
    """Write the figure as a PNG (through Agg, whatever the session's backend)."""
    fig.savefig(path, dpi=110)

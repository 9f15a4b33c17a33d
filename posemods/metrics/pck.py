"""PCK@alpha, as the LSTMPM evaluation protocol that the KIMNet paper follows (section 4.1).

A joint is correct when ``|pred - gt| / L <= alpha``, with distances in original-image pixels and
``L`` the frame's person size (``max(bbox w, bbox h)``, the default) or torso size (the distance
between a shoulder and the opposite hip, :attr:`Skeleton.torso`: left shoulder to right hip for
every built-in layout). Only masked joints count (normally the visible ones). Group columns
(Head, Sho., Elb., Wri., Hip, Knee, Ank.) and the mean pool the counts of their joints, so the mean
is the paper's mPCK: correct joints over counted joints. Values are percentages.

A frame whose normaliser is not a positive finite number is skipped; a NaN prediction is a miss.
Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch

from posemods._shapes import expect_choice
from posemods.skeletons import GROUP_NAMES, Skeleton, get_skeleton


def pck_hits(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, normalizer: torch.Tensor, alpha: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(correct (..., J), counted (..., J))`` as float64 0/1 for pred and target (..., J, 2),
    mask (..., J) and normalizer (...)."""
    if pred.dim() < 2 or pred.shape[-1] != 2:
        raise ValueError(f"pred: expected (..., J, 2) joint coordinates, got shape {tuple(pred.shape)}")
    if pred.shape != target.shape:
        raise ValueError(f"target: expected the shape of pred {tuple(pred.shape)}, got {tuple(target.shape)}")
    if mask.shape != pred.shape[:-1]:
        raise ValueError(f"mask: expected shape {tuple(pred.shape[:-1])} (..., J), got {tuple(mask.shape)}")
    if normalizer.shape != pred.shape[:-2]:
        raise ValueError(f"normalizer: expected shape {tuple(pred.shape[:-2])} (...), got {tuple(normalizer.shape)}")
    norm = normalizer.double()
    good_frame = norm.isfinite() & (norm > 0)
    counted = (mask.double() > 0) & good_frame.unsqueeze(-1) & target.double().isfinite().all(-1)
    dist = (pred.double() - target.double()).norm(dim=-1)
    correct = (dist / norm.unsqueeze(-1) <= alpha) & counted  # NaN compares False: a miss
    return correct.double(), counted.double()


class PCK:
    """Accumulates PCK@alpha over batches; :meth:`compute` gives per-joint, per-group and mean values.

    The state is two float64 tensors ``correct`` and ``counted`` of shape (J,), so a distributed
    evaluation can ``all_reduce`` them (sum) before :meth:`compute`.
    """

    def __init__(self, layout: str | Skeleton, alpha: float = 0.2) -> None:
        self.skeleton = get_skeleton(layout)
        self.alpha = alpha
        self.reset()

    def reset(self) -> None:
        self.correct = torch.zeros(self.skeleton.num_joints, dtype=torch.float64)
        self.counted = torch.zeros(self.skeleton.num_joints, dtype=torch.float64)

    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, normalizer: torch.Tensor) -> None:
        """Add pred/target (..., J, 2) in original-image pixels, mask (..., J), normalizer (...)."""
        if pred.shape[-2] != self.skeleton.num_joints:
            raise ValueError(
                f"pred: expected J={self.skeleton.num_joints} joints ({self.skeleton.name}), "
                f"got shape {tuple(pred.shape)}"
            )
        correct, counted = pck_hits(pred, target, mask, normalizer, self.alpha)
        self.correct += correct.reshape(-1, self.skeleton.num_joints).sum(0).cpu()
        self.counted += counted.reshape(-1, self.skeleton.num_joints).sum(0).cpu()

    def update_clips(
        self, pred_image: torch.Tensor, clips: dict, normalize: str = "person", joints: str = "visible"
    ) -> None:
        """Score a batch of clips: pred_image (B, T, J, 2) against ``clips["joints_image"]``.

        ``normalize``: ``"person"`` or ``"torso"``; ``joints``: ``"visible"`` (the protocol) or
        ``"occluded"`` (annotated but not visible, e.g. under a synthetic occluder). Frames outside
        ``frame_mask`` are not counted.
        """
        expect_choice("normalize", normalize, ("person", "torso"))
        expect_choice("joints", joints, ("visible", "occluded"))
        mask = clips["visibility"] if joints == "visible" else clips["annotated"] * (1 - clips["visibility"])
        mask = mask * clips["frame_mask"].unsqueeze(-1)
        self.update(pred_image, clips["joints_image"], mask, clips[f"{normalize}_size"])

    def compute(self) -> dict[str, float]:
        """``{joint name: %, ..., "Head": %, ..., "Ank.": %, "Mean": %}``; NaN where nothing was counted."""

        def pct(idx) -> float:
            n = float(self.counted[list(idx)].sum())
            return 100.0 * float(self.correct[list(idx)].sum()) / n if n > 0 else float("nan")

        out = {name: pct([j]) for j, name in enumerate(self.skeleton.joint_names)}
        out.update({g: pct(idx) for g, idx in self.skeleton.groups.items()})
        out["Mean"] = pct(range(self.skeleton.num_joints))
        return out

    def table(self) -> str:
        """A one-row table of the group columns and the mean, like the paper's."""
        values = self.compute()
        cols = [*GROUP_NAMES, "Mean"]
        return " | ".join(f"{c:>5}" for c in cols) + "\n" + " | ".join(f"{values[c]:5.1f}" for c in cols)


def pck(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    normalizer: torch.Tensor,
    layout: str | Skeleton,
    alpha: float = 0.2,
) -> dict[str, float]:
    """PCK@alpha in one call; see :class:`PCK`."""
    metric = PCK(layout, alpha)
    metric.update(pred, target, mask, normalizer)
    return metric.compute()

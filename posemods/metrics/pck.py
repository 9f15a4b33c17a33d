"""PCK@alpha, as LSTMPM's MATLAB evaluation, which the KIMNet paper follows (section 4.1).

The reference is ``testing/src/run_benchmark_GPU_PENN.m`` and ``run_benchmark_GPU_JHMDB.m`` of
github:lawy623/LSTM_Pose_Machines (commit 68a9212). Per frame it computes

- ``bodysize = max(bbox(frame,3)-bbox(frame,1),bbox(frame,4)-bbox(frame,2))`` (person size, the
  default), or with ``torso_norm == 1`` the distance between the layout's torso pair
  (:attr:`Skeleton.torso`: Penn's right shoulder to left hip, JHMDB's left shoulder to right hip),
  replaced by the *predicted* torso when ``if(bodysize<1)``;
- per joint, only ``if(label(3,joints,frame)==1)`` (Penn: visibility exactly 1; JHMDB counts every
  joint), ``hit = error_dist <= bodysize*0.2``, ``obj(joints) = obj(joints) + 1``.

So a frame whose box has zero or negative size is still counted and its joints are misses (a
distance is never below a negative threshold; a zero distance meets a zero threshold). posemods
mirrors that with ``dist <= alpha * L``, distances in original-image pixels. A NaN normaliser (no
box, or no torso and no prediction to fall back on) leaves the frame uncounted, which LSTMPM never
meets; a NaN prediction is a miss. Group columns (Head, Sho., Elb., Wri., Hip, Knee, Ank.) and the
mean pool the counts of their joints (``sum(detected)/sum(obj)``), the paper's mPCK. Values are
percentages. Inputs may be tensors or numpy arrays. Shapes use the vocabulary of
:mod:`posemods._shapes`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from posemods._shapes import expect_choice
from posemods.skeletons import GROUP_NAMES, Skeleton, get_skeleton

#: What each ``joints=`` of :meth:`PCK.update_clips` counts, in words (the evaluation header prints it);
#: "visible" is the protocol's own rule, which each dataset's protocol states.
JOINT_SETS = {
    "visible": "the protocol's joints",
    "occluded": "annotated joints that are not visible (marked occluded by the labels, under an occluder, "
    "or outside the frame); not part of the protocol's score",
}


def check_alpha(alpha) -> float:
    """``alpha`` as a float, or a TypeError / ValueError saying what was expected."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha: expected a real number, got {type(alpha).__name__} {alpha!r}")
    if not (math.isfinite(float(alpha)) and float(alpha) > 0):
        raise ValueError(f"alpha: expected a positive finite number, got {alpha!r}")
    return float(alpha)


def _as_tensor(name: str, value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{name}: expected numbers, got {type(value).__name__} that numpy cannot read: {error}"
            ) from None
        return torch.from_numpy(array)
    raise TypeError(f"{name}: expected a torch.Tensor or numpy array, got {type(value).__name__}")


def pck_hits(pred, target, mask, normalizer, alpha: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """``(correct (..., J), counted (..., J))`` as float64 0/1 for pred and target (..., J, 2),
    mask (..., J) and normalizer (...), tensors or numpy arrays.

    A joint is counted where ``mask > 0``, its target is finite and the frame's normaliser is not
    NaN; it is correct where ``dist <= alpha * normalizer`` (LSTMPM's ``hit = error_dist <=
    bodysize*0.2``, so a frame with a non-positive normaliser is counted with misses).

    Distances and thresholds are computed in float64, as MATLAB's double: predictions decoded in
    float32 are widened, and the clip contract keeps ``joints_image`` / ``person_size`` /
    ``torso_size`` in float64, so an exact tie is a hit as in LSTMPM.
    """
    alpha = check_alpha(alpha)
    pred, target = _as_tensor("pred", pred), _as_tensor("target", target)
    mask, normalizer = _as_tensor("mask", mask), _as_tensor("normalizer", normalizer)
    if pred.dim() < 2 or pred.shape[-1] != 2:
        raise ValueError(f"pred: expected (..., J, 2) joint coordinates, got shape {tuple(pred.shape)}")
    if pred.shape != target.shape:
        raise ValueError(f"target: expected the shape of pred {tuple(pred.shape)}, got {tuple(target.shape)}")
    if mask.shape != pred.shape[:-1]:
        raise ValueError(f"mask: expected shape {tuple(pred.shape[:-1])} (..., J), got {tuple(mask.shape)}")
    if normalizer.shape != pred.shape[:-2]:
        raise ValueError(f"normalizer: expected shape {tuple(pred.shape[:-2])} (...), got {tuple(normalizer.shape)}")
    norm = normalizer.double()
    counted = (mask.double() > 0) & norm.isfinite().unsqueeze(-1) & target.double().isfinite().all(-1)
    dist = (pred.double() - target.double()).norm(dim=-1)
    correct = (dist <= alpha * norm.unsqueeze(-1)) & counted  # NaN compares False: a miss
    return correct.double(), counted.double()


def torso_normalizer(target_torso, pred, skeleton: str | Skeleton) -> torch.Tensor:
    """LSTMPM's torso size: the ground-truth torso ``target_torso`` (...), or, where it is under 1 px
    or NaN, the torso of the predicted joints ``pred`` (..., J, 2).

    run_benchmark_GPU_PENN.m: ``bodysize = norm([label(1,3,frame),label(2,3,frame)] -
    [label(1,8,frame),label(2,8,frame)]); if(bodysize<1) bodysize = norm([pred_x(3),pred_y(3)] -
    [pred_x(8),pred_y(8)]);``. The ground truth is measured between the stored labels whatever their
    visibility (an occluded torso joint at its true position, and also Penn's unlabelled placeholder
    at MATLAB's pixel (1, 1)): the clip's ``torso_size`` (:mod:`posemods.data.clip`) is exactly that.
    NaN (a non-finite stored label, which LSTMPM never meets) is treated as unknown: the predicted torso.
    """
    skeleton = get_skeleton(skeleton)
    target_torso, pred = _as_tensor("target_torso", target_torso).double(), _as_tensor("pred", pred).double()
    a, b = skeleton.index(skeleton.torso[0]), skeleton.index(skeleton.torso[1])
    predicted = (pred[..., a, :] - pred[..., b, :]).norm(dim=-1)
    return torch.where(target_torso >= 1, target_torso, predicted)


class PCK:
    """Accumulates PCK@alpha over batches; :meth:`compute` gives per-joint, per-group and mean values.

    The state is two float64 tensors ``correct`` and ``counted`` of shape (J,), so a distributed
    evaluation can ``all_reduce`` them (sum) before :meth:`compute`.
    """

    def __init__(self, layout: str | Skeleton, alpha: float = 0.2) -> None:
        self.skeleton = get_skeleton(layout)
        self.alpha = check_alpha(alpha)
        self.reset()

    def reset(self) -> None:
        self.correct = torch.zeros(self.skeleton.num_joints, dtype=torch.float64)
        self.counted = torch.zeros(self.skeleton.num_joints, dtype=torch.float64)

    def update(self, pred, target, mask, normalizer) -> None:
        """Add pred/target (..., J, 2) in original-image pixels, mask (..., J), normalizer (...)."""
        pred = _as_tensor("pred", pred)
        if pred.dim() < 2 or pred.shape[-2] != self.skeleton.num_joints:
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

        ``normalize``: ``"person"`` or ``"torso"`` (the ground-truth torso, or the predicted one
        where that is under 1 px: :func:`torso_normalizer`); ``joints``: ``"visible"``
        (the protocol) or
        ``"occluded"`` (annotated but not visible, e.g. under a synthetic occluder). Frames outside
        ``frame_mask`` are not counted.
        """
        expect_choice("normalize", normalize, ("person", "torso"))
        expect_choice("joints", joints, tuple(JOINT_SETS))
        mask = clips["visibility"] if joints == "visible" else clips["annotated"] * (1 - clips["visibility"])
        mask = mask * clips["frame_mask"].unsqueeze(-1)
        normalizer = clips["person_size"]
        if normalize == "torso":
            normalizer = torso_normalizer(clips["torso_size"], pred_image, self.skeleton)
        self.update(pred_image, clips["joints_image"], mask, normalizer)

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
    pred,
    target,
    mask,
    normalizer,
    layout: str | Skeleton,
    alpha: float = 0.2,
) -> dict[str, float]:
    """PCK@alpha in one call; see :class:`PCK`."""
    metric = PCK(layout, alpha)
    metric.update(pred, target, mask, normalizer)
    return metric.compute()

"""PCK as the RPSTN authors' code computes it: a second protocol beside LSTMPM's (:mod:`posemods.metrics.pck`).

The reference is github:YHDang/RPSTN at commit f7dcd3e: ``lib/utils/evaluate.py`` (``accuracy``,
``calc_dists``, ``dist_acc``, ``get_max_preds``) and the loop that calls it once per test clip in
``pose_estimation/1_test_penn.py`` (``Trainer.validation``). KIMNet's Tables 1, 2 and 4 compare with
RPSTN and DKD and set PCK's L "according to [11, 12]"; this is the arithmetic of [12]'s code.

For one clip of T frames, predicted and target heatmaps (T, J, h, w):

- **Coordinates in heatmap pixels, from the target's heatmaps.** Both sets of joints are the argmax
  of their heatmaps (the first maximum, x = index % w, y = index // w), set to (0, 0) where the
  maximum is not above 0 (``get_max_preds``). The target is the argmax of the rendered Gaussian,
  not the annotated coordinate.
- **Which joints count.** A joint of a frame counts where its target argmax is above 1 in both x and
  y (``calc_dists``: ``target[n, c, 0] > 1 and target[n, c, 1] > 1``): a joint without a target,
  or whose target lies on the first two rows or columns, is not scored.
- **The distance.** ``norm(pred / n - target / n + 1)`` with ``n = (h / 10, w / 10)`` divided into
  (x, y) in that order (``calc_dists``, ``normalize = [h, w] / 10``): the +1 is added to both
  components before the norm, so a perfect prediction has distance sqrt(2) = 1.414.
- **The threshold.** ``alpha * torso`` (``dist_acc``: ``dists < threshold``, strict), the torso being
  the distance between the layout's torso joints (Penn Action: 2 and 7, right shoulder and left
  hip) of the *first* frame's target argmaxes, in heatmap pixels, for every frame of the clip; the
  first frame's *predicted* torso where that is under 1 (``accuracy``, ``normTorso=True``). The
  distance is in units of h / 10 and offset by the +1; the threshold is in heatmap pixels.
- **Per joint, per clip.** A joint's accuracy in a clip is its hits over its counted frames; a clip
  in which it never counts leaves it out (``visible[k] == 1``). The clips' accuracies are averaged
  per joint (``PCK[k] = (PCK[k] * count[k] + acc_PCK[k]) / (count[k] + 1)``), every clip weighing
  the same whatever its number of counted frames.
- **The mean.** ``mPCK = PCK.sum() / J``: the mean of the per-joint values, a joint never counted
  contributing 0. The groups of ``printAccuracies`` average their two joints' values
  (``0.5 * (PCK[1] + PCK[2])``).

Which clips: one per test video, T = 5 frames starting at frame ``RandomState(10480 +
index).randint(1, nframes - T)`` (``penn_action_data.py:Penn_Action.__getitem__``), see
:mod:`posemods.data.rpstn`. The threshold is ``0.2`` in ``1_test_penn.py``; the validation in
``1_train_penn.py``, which the repository's README names as the test command, passes
``pck_thred = 1`` (PCK@1.0) to the same ``accuracy``; ``1_test_penn.py`` itself cannot run as
published (it imports ``utils.Mytransforms``, which does not exist, and calls the model with two
arguments). Values here are fractions in the arrays and percentages in :meth:`RPSTNPCK.compute`.

Two choices the reference leaves to its environment: the threshold ``alpha * torso`` is computed in
float64 (NumPy 1, of the authors' Python 3.6; NumPy 2 would round it to float32), and the mean over
clips is kept as a sum and a count (so processes can add them), equal to their running mean up to
float rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from posemods.metrics.pck import check_alpha
from posemods.skeletons import Skeleton, get_skeleton

#: The commit of github:YHDang/RPSTN this protocol follows.
RPSTN_COMMIT = "f7dcd3e"
#: The PCK arithmetics ``python -m posemods.evaluate --protocol`` offers: LSTMPM's (the default,
#: :mod:`posemods.metrics.pck`) and the RPSTN authors' (this module).
PCK_PROTOCOLS = ("lstmpm", "rpstn")


def _as_heatmaps(name: str, value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().float().numpy()  # their `heat[j].detach().cpu().numpy()`: float32
    elif isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"{name}: expected floating-point heatmaps, got dtype {value.dtype}")
        value = value.astype(np.float32, copy=False)
    else:
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array, got {type(value).__name__}")
    if value.ndim != 4:
        raise ValueError(f"{name}: expected one clip's heatmaps (T, J, h, w), got shape {value.shape}")
    return value


def heatmap_argmax(heatmaps) -> np.ndarray:
    """``get_max_preds``: (T, J, h, w) float32 -> (T, J, 2) float32 (x, y) of the first maximum,
    (0, 0) where the maximum is not above 0 (or is NaN)."""
    heatmaps = _as_heatmaps("heatmaps", heatmaps)
    frames, joints, _, width = heatmaps.shape
    flat = heatmaps.reshape(frames, joints, -1)
    index = np.argmax(flat, axis=2).astype(np.float32)
    coords = np.stack((index % width, np.floor(index / width)), axis=-1)
    return coords * np.greater(np.amax(flat, axis=2), 0.0)[..., None].astype(np.float32)


def rpstn_clip_pck(pred_heatmaps, target_heatmaps, torso: tuple[int, int], alpha: float = 0.2):
    """One clip's ``(pck (J,) float64 fractions, counted (J,) bool)`` as ``evaluate.py:accuracy``.

    ``pred_heatmaps`` and ``target_heatmaps`` are (T, J, h, w) (tensors or arrays); ``torso`` the
    two joint indices whose distance normalises (Penn Action: (2, 7)). ``pck[k]`` is 0 where joint
    ``k`` never counts in the clip (``counted[k]`` False).
    """
    alpha = check_alpha(alpha)
    pred_maps = _as_heatmaps("pred_heatmaps", pred_heatmaps)
    target_maps = _as_heatmaps("target_heatmaps", target_heatmaps)
    if pred_maps.shape != target_maps.shape:
        raise ValueError(
            f"target_heatmaps: expected the shape of pred_heatmaps {pred_maps.shape}, got {target_maps.shape}"
        )
    joints = pred_maps.shape[1]
    a, b = torso
    if not (0 <= a < joints and 0 <= b < joints):
        raise ValueError(f"torso: expected two joint indices below J={joints}, got {torso}")
    pred, target = heatmap_argmax(pred_maps), heatmap_argmax(target_maps)
    height, width = pred_maps.shape[-2:]
    unit = np.array([height, width], dtype=np.float64) / 10  # divides (x, y): their `[h, w] / 10`
    counted = (target[..., 0] > 1) & (target[..., 1] > 1)  # (T, J)
    dist = np.sqrt(((pred / unit - target / unit + 1) ** 2).sum(-1))  # float64
    size = np.linalg.norm(target[0, a] - target[0, b])
    if size < 1:
        size = np.linalg.norm(pred[0, a] - pred[0, b])
    hits = (dist < alpha * float(size)) & counted
    frames = counted.sum(0)
    pck = np.where(frames > 0, hits.sum(0) / np.maximum(frames, 1), 0.0)
    return pck.astype(np.float64), frames > 0


class RPSTNPCK:
    """Accumulates :func:`rpstn_clip_pck` over clips and averages it per joint, as ``1_test_penn.py``.

    The state is two float64 tensors ``total`` (the sum of each joint's per-clip accuracies) and
    ``clips`` (how many clips counted it), so a distributed evaluation can ``all_reduce`` them.
    """

    def __init__(self, layout: str | Skeleton, alpha: float = 0.2) -> None:
        self.skeleton = get_skeleton(layout)
        self.alpha = check_alpha(alpha)
        self.torso = (self.skeleton.index(self.skeleton.torso[0]), self.skeleton.index(self.skeleton.torso[1]))
        self.reset()

    def reset(self) -> None:
        self.total = torch.zeros(self.skeleton.num_joints, dtype=torch.float64)
        self.clips = torch.zeros(self.skeleton.num_joints, dtype=torch.float64)

    def update(self, pred_heatmaps, target_heatmaps) -> None:
        """Add a batch of clips, predicted and target heatmaps (B, T, J, h, w)."""
        for name, value in (("pred_heatmaps", pred_heatmaps), ("target_heatmaps", target_heatmaps)):
            if value.ndim != 5 or value.shape[2] != self.skeleton.num_joints:
                raise ValueError(
                    f"{name}: expected clips (B, T, J={self.skeleton.num_joints}, h, w) ({self.skeleton.name}), "
                    f"got shape {tuple(value.shape)}"
                )
        for pred, target in zip(pred_heatmaps, target_heatmaps):
            pck, counted = rpstn_clip_pck(pred, target, self.torso, self.alpha)
            self.total += torch.from_numpy(np.where(counted, pck, 0.0))
            self.clips += torch.from_numpy(counted.astype(np.float64))

    def per_joint(self) -> torch.Tensor:
        """The per-joint fractions (J,), 0 for a joint no clip counted (their ``PCK`` array)."""
        return torch.where(self.clips > 0, self.total / self.clips.clamp(min=1), torch.zeros_like(self.total))

    def compute(self) -> dict[str, float]:
        """``{joint name: %, ..., "Head": %, ..., "Ank.": %, "Mean": %}`` as ``printAccuracies`` (times 100)."""
        values = self.per_joint()
        out = {name: 100.0 * float(values[j]) for j, name in enumerate(self.skeleton.joint_names)}
        out.update({g: 100.0 * float(values[list(idx)].mean()) for g, idx in self.skeleton.groups.items()})
        out["Mean"] = 100.0 * float(values.sum()) / self.skeleton.num_joints
        return out


def describe_rpstn_protocol(data: str, layout: str | Skeleton, alpha: float) -> str:
    """Lines naming this protocol, printed by ``python -m posemods.evaluate --protocol rpstn`` beside its table."""
    skeleton = get_skeleton(layout)
    alpha = check_alpha(alpha)
    a, b = skeleton.torso
    clips = (
        "one clip per test video from frame RandomState(10480 + index).randint(1, nframes - T), each frame "
        "cropped by its own box, stretched"
        if data == "penn_action"
        else "every evaluation clip, one standing for one video"
    )
    return "\n".join(
        [
            f"protocol: {data}, RPSTN's PCK@{alpha:g} (YHDang/RPSTN {RPSTN_COMMIT}, evaluate.py accuracy)",
            f"  clips: {clips}",
            f"  distance |(pred - target argmax) / (h/10) + 1| < {alpha:g} x torso |{a} - {b}| of the clip's "
            "first frame, in heatmap pixels",
            f"  joints counted: target argmax above 1 in x and y; {skeleton.num_joints} joints ({skeleton.name}); "
            "per-joint means over clips",
        ]
    )

"""Joint layouts: the one place that knows joint orders, flip pairs, limbs and evaluation groups.

Both :mod:`posemods.data` and :mod:`posemods.metrics` import from here, so a joint index means the
same thing in a dataset file, a heatmap channel and a metric table.

Sources of truth for the orders (the files each reader parses store joints in exactly this order):

- ``PENN_ACTION_13``: the Penn Action README's "List of Annotated Joints" (1 head, 2/3 left/right
  shoulder, 4/5 elbow, 6/7 wrist, 8/9 hip, 10/11 knee, 12/13 ankle); the columns of ``x``, ``y``
  and ``visibility`` in ``labels/NNNN.mat``.
- ``JHMDB_15``: the JHMDB README's joint list, the order of ``pos_img`` (2, 15, T) in
  ``joint_positions.mat``: neck, belly, face, right/left shoulder, right/left hip, right/left elbow,
  right/left knee, right/left wrist, right/left ankle (right before left in every pair).
- ``COCO_17``: the COCO keypoints category (nose, eyes, ears, then left before right for shoulders
  ... ankles).
- ``POSETRACK_17``: PoseTrack 2018/21's ``categories[0]["keypoints"]``: COCO's order with
  ``head_bottom`` and ``head_top`` where COCO has the eyes. PoseTrack never annotates the ears;
  poseval scores the other 15 joints.

Flip pairs are derived from the names (``left_x`` <-> ``right_x``), so they cannot drift from the
order. The PCK groups are the seven columns of the KIMNet/LSTMPM tables (Head, Sho., Elb., Wri.,
Hip, Knee, Ank.); joints outside every group (JHMDB's belly) still count in the mean.
"""

from __future__ import annotations

import dataclasses

GROUP_NAMES = ("Head", "Sho.", "Elb.", "Wri.", "Hip", "Knee", "Ank.")
_BODY_GROUPS = {
    "Sho.": ("left_shoulder", "right_shoulder"),
    "Elb.": ("left_elbow", "right_elbow"),
    "Wri.": ("left_wrist", "right_wrist"),
    "Hip": ("left_hip", "right_hip"),
    "Knee": ("left_knee", "right_knee"),
    "Ank.": ("left_ankle", "right_ankle"),
}
# Limbs shared by every layout, as (from, to) name pairs.
_BODY_EDGES = (
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
)


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """A joint layout.

    Attributes:
        name: short identifier, e.g. ``"penn_action"``.
        joint_names: the J names in file and heatmap-channel order.
        edges: limbs as (from, to) name pairs, for drawing.
        head_joints: the joints of the "Head" column (for PoseTrack also poseval's head joints).
        torso: the (shoulder, opposite hip) pair whose distance is the torso size for PCK, as the
            layout's reference evaluation defines it (each layout states its own; see the
            ``torso=`` of each built-in layout for the line it follows).
        scored_joints: joints a metric scores (PoseTrack drops the never-annotated ears).
    """

    name: str
    joint_names: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    head_joints: tuple[str, ...]
    torso: tuple[str, str]
    scored_joints: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"{self.name}: duplicate joint names")
        for a, b in (*self.edges, self.torso):
            self.index(a), self.index(b)
        for j in self.head_joints + (self.scored_joints or ()):
            self.index(j)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise ValueError(f"{self.name} has no joint {name!r}; it has {self.joint_names}") from None

    @property
    def flip_index(self) -> tuple[int, ...]:
        """``flip_index[j]`` is the joint that j becomes in a mirrored image (itself if unpaired)."""
        out = []
        for name in self.joint_names:
            for a, b in (("left_", "right_"), ("right_", "left_")):
                if name.startswith(a) and name.replace(a, b, 1) in self.joint_names:
                    out.append(self.index(name.replace(a, b, 1)))
                    break
            else:
                out.append(self.index(name))
        return tuple(out)

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        return tuple((j, k) for j, k in enumerate(self.flip_index) if j < k)

    @property
    def edge_index(self) -> tuple[tuple[int, int], ...]:
        return tuple((self.index(a), self.index(b)) for a, b in self.edges)

    @property
    def groups(self) -> dict[str, tuple[int, ...]]:
        """PCK/AP columns ``{"Head": (j, ...), "Sho.": ..., ..., "Ank.": ...}`` as joint indices."""
        names = {"Head": self.head_joints, **_BODY_GROUPS}
        return {g: tuple(self.index(n) for n in names[g]) for g in GROUP_NAMES}

    @property
    def scored_index(self) -> tuple[int, ...]:
        return (
            tuple(range(self.num_joints)) if self.scored_joints is None else tuple(map(self.index, self.scored_joints))
        )

    @property
    def upper_body(self) -> tuple[int, ...]:
        """Joints above the hips (for half-body augmentation)."""
        return tuple(j for j, n in enumerate(self.joint_names) if not n.endswith(("hip", "knee", "ankle", "belly")))

    @property
    def lower_body(self) -> tuple[int, ...]:
        return tuple(j for j, n in enumerate(self.joint_names) if n.endswith(("hip", "knee", "ankle")))


_LIMBS = [
    f"{side}_{part}" for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle") for side in ("left", "right")
]

PENN_ACTION_13 = Skeleton(
    name="penn_action",
    joint_names=("head", *_LIMBS),
    edges=(("head", "left_shoulder"), ("head", "right_shoulder"), *_BODY_EDGES),
    head_joints=("head",),
    # LSTMPM testing/src/run_benchmark_GPU_PENN.m:
    # "bodysize = norm([label(1,3,frame),label(2,3,frame)] - [label(1,8,frame),label(2,8,frame)]);"
    # Penn joints 3 and 8 (1-based, the README's list) are the right shoulder and the left hip.
    torso=("right_shoulder", "left_hip"),
)

JHMDB_15 = Skeleton(
    name="jhmdb",
    joint_names=(
        "neck",
        "belly",
        "face",
        *(
            f"{side}_{part}"
            for part in ("shoulder", "hip", "elbow", "knee", "wrist", "ankle")
            for side in ("right", "left")
        ),
    ),
    edges=(
        ("face", "neck"),
        ("neck", "left_shoulder"),
        ("neck", "right_shoulder"),
        ("neck", "belly"),
        ("belly", "left_hip"),
        ("belly", "right_hip"),
        *(e for e in _BODY_EDGES if e not in (("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"))),
    ),
    # JHMDB has no "head" joint: the face and the neck (the head's bottom) make the Head column.
    head_joints=("face", "neck"),
    # LSTMPM testing/src/run_benchmark_GPU_JHMDB.m:
    # "bodysize = norm([label(1,5,frame),label(2,5,frame)] - [label(1,6,frame),label(2,6,frame)]);"
    # pos_img joints 5 and 6 (1-based) are the left shoulder and the right hip.
    torso=("left_shoulder", "right_hip"),
)

_COCO_HEAD = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
COCO_17 = Skeleton(
    name="coco",
    joint_names=(*_COCO_HEAD, *_LIMBS),
    edges=(
        ("nose", "left_eye"),
        ("nose", "right_eye"),
        ("left_eye", "left_ear"),
        ("right_eye", "right_ear"),
        ("left_ear", "left_shoulder"),
        ("right_ear", "right_shoulder"),
        *_BODY_EDGES,
    ),
    head_joints=_COCO_HEAD,
    # No reference evaluation defines a torso PCK for COCO; the JHMDB pair is kept.
    torso=("left_shoulder", "right_hip"),
)

POSETRACK_17 = Skeleton(
    name="posetrack",
    joint_names=("nose", "head_bottom", "head_top", "left_ear", "right_ear", *_LIMBS),
    edges=(
        ("head_top", "nose"),
        ("nose", "head_bottom"),
        ("head_bottom", "left_shoulder"),
        ("head_bottom", "right_shoulder"),
        *_BODY_EDGES,
    ),
    # poseval's Head column: head_top, head_bottom (its "neck") and nose.
    head_joints=("nose", "head_bottom", "head_top"),
    scored_joints=("nose", "head_bottom", "head_top", *_LIMBS),
    # poseval scores PCKh (head size), never a torso; the JHMDB pair is kept for torso PCK.
    torso=("left_shoulder", "right_hip"),
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (PENN_ACTION_13, JHMDB_15, COCO_17, POSETRACK_17)}


def get_skeleton(layout: str | Skeleton) -> Skeleton:
    """Look a layout up by name (``"penn_action"``, ``"jhmdb"``, ``"coco"``, ``"posetrack"``)."""
    if isinstance(layout, Skeleton):
        return layout
    if layout not in SKELETONS:
        raise ValueError(f"layout: expected one of {tuple(SKELETONS)}, got {layout!r}")
    return SKELETONS[layout]

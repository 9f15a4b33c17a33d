"""What an evaluation applied, in words, so a printed figure can be checked against a paper's.

:func:`describe_protocol` is printed by ``python -m posemods.evaluate`` beside its table. Each line
names the reference evaluator the numbers follow and the rules that change them: the dataset, the
PCK normaliser, alpha, and which joints are counted.
"""

from __future__ import annotations

from posemods.metrics.pck import check_alpha
from posemods.skeletons import Skeleton, get_skeleton

POSEVAL_COMMIT = "4258a1575b9f2ddd0bdb85f74557235ab5df0f52"
LSTMPM_COMMIT = "68a9212"

_JOINTS = {
    "penn_action": "joints with the file's visibility == 1 (LSTMPM: label(3,joints,frame)==1)",
    "jhmdb": "every joint of every frame, inside the image or not (LSTMPM's JHMDB loop)",
    "posetrack": "annotated joints of each track's labelled key frame",
    "synthetic": "visible joints (annotated, not occluded)",
}


def describe_protocol(data: str, layout: str | Skeleton, normalize: str, alpha: float) -> str:
    """Lines naming the protocol: e.g. ``describe_protocol("penn_action", "penn_action", "person", 0.2)``."""
    skeleton = get_skeleton(layout)
    alpha = check_alpha(alpha)
    if normalize == "torso":
        a, b = skeleton.torso
        normaliser = f"torso |{a} - {b}| (the predicted torso where the ground truth's is under 1 px or unknown)"
    elif normalize == "person":
        normaliser = "person size max(w, h) of the dataset's box (zero or negative boxes count as misses)"
    else:
        raise ValueError(f"normalize: expected 'person' or 'torso', got {normalize!r}")
    reference = {
        "penn_action": f"LSTMPM run_benchmark_GPU_PENN.m (lawy623/LSTM_Pose_Machines {LSTMPM_COMMIT})",
        "jhmdb": f"LSTMPM run_benchmark_GPU_JHMDB.m (lawy623/LSTM_Pose_Machines {LSTMPM_COMMIT})",
    }.get(data, "the LSTMPM PCK rule (hit = dist <= alpha * L)")
    lines = [
        f"protocol: {data}, PCK@{alpha:g} as {reference}",
        f"  normaliser L: {normaliser}",
        f"  joints counted: {_JOINTS.get(data, 'the visible joints')}; {skeleton.num_joints} joints ({skeleton.name})",
    ]
    if data == "posetrack":
        lines.append(
            f"  mAP: poseval evaluateAP (leonid-pishchulin/poseval {POSEVAL_COMMIT[:7]}), PCKh@0.5 of 0.6 x the head "
            f"box diagonal, {len(skeleton.scored_index)} joints (ears not scored), on ground-truth boxes"
        )
    return "\n".join(lines)

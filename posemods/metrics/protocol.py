"""What an evaluation applied, in words, so a printed figure can be checked against a paper's.

:func:`describe_protocol` is printed by ``python -m posemods.evaluate`` beside its table. Each line
names the reference evaluator the numbers follow and the rules that change them: the dataset, the
PCK normaliser, alpha, and which joints are counted.

Each protocol detail and the file that implements it (the docstrings there quote the reference):

LSTMPM PCK (lawy623/LSTM_Pose_Machines 68a9212):

- ``hit = error_dist <= bodysize*0.2``, non-positive L: metrics/pck.py ``pck_hits``
- person size max(w, h) of the file's box, kept degenerate: data/penn_action.py, data/video_dataset.py
- torso pair per layout (Penn 3-8, JHMDB 5-6): skeletons.py ``Skeleton.torso``
- predicted torso where the ground truth's is under 1 px: metrics/pck.py ``torso_normalizer``
- the ground-truth torso between the stored labels whatever their visibility: data/clip.py ``make_clip``
- Penn: ``label(3,joints,frame)==1`` only: data/penn_action.py
- Penn: occluded joints (visibility 0 at real coordinates) trained on, as transformation_PENN.m: data/penn_action.py
- Penn: short bbox arrays repeat the last row: data/penn_action.py ``penn_boxes``
- Penn: crops of degenerate boxes use the joints' extent: data/penn_action.py ``penn_crop_boxes``
- JHMDB: 1-based pos_img and boxes to 0-based pixels: data/jhmdb.py
- JHMDB: getBox.m boxes, its rounding included: data/jhmdb.py ``get_box``
- JHMDB: every joint counted: data/jhmdb.py

poseval evaluateAP (leonid-pishchulin/poseval 4258a15):

- 2017 / 2018 / 2021 layouts told apart by content: data/posetrack.py ``posetrack_format``
- annotated unless (x, y, v) == (0, 0, 0) (to_old): data/posetrack.py
- identities per video: data/posetrack.py ``read_posetrack``
- people without joints kept: their frame's FPs count: data/posetrack.py, metrics/posetrack_map.py
- ties ranked by ``argsort()[::-1]``, frames in file order: metrics/posetrack_map.py, data/posetrack.py
- ignore regions: shapely ``contains`` (boundary outside): metrics/posetrack_map.py ``points_in_polygon``
- a zero-size head box never matches (poseval's division by zero): metrics/posetrack_map.py
- refused only where poseval crashes: a missing head box in a frame with predictions, a 1-2 point
  ignore region in a frame with people: metrics/posetrack_map.py, data/posetrack.py
- 2017: a joint id listed twice keeps its first point (getPointGTbyID): data/posetrack.py
- a file of several videos: all scored, with a warning (load_data_dir keeps only the first):
  data/posetrack.py ``read_posetrack_frames``
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

_BOXES = {
    "penn_action": "the label file's bbox (a missing last row repeats the previous one, PENN_PreData.m)",
    "jhmdb": "the puppet mask's box (getBox.m)",
    "posetrack": "the annotation's bbox",
}


def describe_protocol(data: str, layout: str | Skeleton, normalize: str, alpha: float) -> str:
    """Lines naming the protocol: e.g. ``describe_protocol("penn_action", "penn_action", "person", 0.2)``."""
    skeleton = get_skeleton(layout)
    alpha = check_alpha(alpha)
    if normalize == "torso":
        a, b = skeleton.torso
        normaliser = f"torso |{a} - {b}| (the predicted torso where the ground truth's is under 1 px or unknown)"
    elif normalize == "person":
        box = _BOXES.get(data, "the dataset's box")
        normaliser = f"person size max(w, h) of {box} (zero or negative boxes count as misses)"
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

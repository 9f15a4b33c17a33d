"""What an evaluation applied, in words, so a printed figure can be checked against a paper's.

Every protocol is named and listed here, in :data:`PROTOCOLS`; each dataset of
:mod:`posemods.data.registry` names the one it follows (``DatasetSpec.protocol``), and the training
layer joins the two (data cannot import metrics: metrics imports data). :func:`describe_protocol` is
printed by ``python -m posemods.evaluate`` beside its table. Each line names the reference evaluator
the numbers follow and the rules that change them: the dataset, the PCK normaliser, alpha, and which
joints are counted.

Each protocol detail and the file that implements it (the docstrings there quote the reference):

LSTMPM PCK (lawy623/LSTM_Pose_Machines 68a9212):

- ``hit = error_dist <= bodysize*0.2``, non-positive L: metrics/pck.py ``pck_hits``
- person size max(w, h) of the file's box, kept degenerate: data/penn_action.py, data/video_dataset.py
- torso pair per layout (Penn 3-8, JHMDB 5-6): skeletons.py ``Skeleton.torso``
- predicted torso where the ground truth's is under 1 px: metrics/pck.py ``torso_normalizer``
- an unlabelled torso joint is an unknown (NaN) torso, so the predicted one; LSTMPM's torso_norm
  branch would measure to the stored corner point (a deliberate difference): metrics/pck.py
- Penn: ``label(3,joints,frame)==1`` only: data/penn_action.py
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

Two PCK protocols (``python -m posemods.evaluate --protocol lstmpm | rpstn``):

=====================  ======================================  ==========================================
                       ``lstmpm`` (the default)                ``rpstn``
=====================  ======================================  ==========================================
reference              LSTM Pose Machines' MATLAB,             the RPSTN authors' Python, YHDang/RPSTN
                       run_benchmark_GPU_PENN.m (68a9212)      f7dcd3e, evaluate.py + 1_test_penn.py
what is scored         every frame of every test video,        one clip of T = 5 frames per test video,
                       streamed from frame 1 (``--eval-mode    from ``RandomState(10480 + index)
                       video``)                                .randint(1, nframes - 5)``
crop                   each frame's box, 1.25x, aspect kept    each frame's box stretched, no margin
prediction             decoded argmax (quarter-pixel shift),   argmax in heatmap pixels
                       mapped back to image pixels
ground truth           the annotated coordinate                the argmax of the rendered target Gaussian
                                                               (centre ``int(x / 4)``)
joints counted         visibility == 1                         target argmax above 1 in x and y, whatever
                                                               the visibility
distance               |pred - gt| in image pixels             |(pred - gt) / (h / 10) + 1|: 1.414 when
                                                               perfect
threshold              ``<= 0.2 x L``, L per frame: the box's  ``< 0.2 x torso`` of the clip's first
                       max side, or the torso                  frame, in heatmap pixels (the predicted
                                                               torso under 1 px); torso only
averaging              hits / counted, pooled over frames      per clip, then the clips' mean per
                       (groups and mean pool their joints)     joint; groups and mean average the
                                                               joints, a never-counted joint as 0
=====================  ======================================  ==========================================

Measured on the same predictions (``examples/protocol_gap.py``; mean PCK@0.2, %):

==========================================================  =====  ============  =============
predictions                                                 rpstn  lstmpm torso  lstmpm person
==========================================================  =====  ============  =============
synthetic heatmaps, 64 x 64, errors 0.5-4 px, 300 clips      99.2          63.0           98.4
the same at 16 x 16                                           0.7          61.3           98.5
the README demo's KIMNet (16 x 16 heatmaps), 64 clips         6.8          11.8           64.4
the same model on 256 x 256 clips (64 x 64 heatmaps)          26.8           0.1            2.1
==========================================================  =====  ============  =============

The rpstn distance's +1 is in units of h / 10 and its threshold in heatmap pixels: lenient at the
papers' 64 x 64 heatmaps, failing even perfect joints at 16 x 16. RPSTN's and DKD's published tables,
and KIMNet's (which sets L "according to [11, 12]"), are comparable with ``--protocol rpstn`` at 64 x 64
heatmaps only, never with LSTMPM-protocol numbers. Their own README's test command validates at
PCK@1.0 (``pck_thred = 1`` in ``1_train_penn.py``); ``1_test_penn.py``, which uses 0.2, does not run
as published.
"""

from __future__ import annotations

import dataclasses

from posemods._shapes import expect_choice
from posemods.metrics.pck import check_alpha
from posemods.skeletons import Skeleton, get_skeleton

POSEVAL_COMMIT = "4258a1575b9f2ddd0bdb85f74557235ab5df0f52"
LSTMPM_COMMIT = "68a9212"


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One evaluation as a reference evaluator runs it, in words.

    Attributes:
        name: what a dataset's registration names (``DatasetSpec.protocol``).
        reference: the evaluator PCK follows, with the repository and commit it was held against.
        joints: which joints count.
        person_box: the box whose max(w, h) is the person-size normaliser.
        posetrack_map: the dataset is also scored by poseval's mAP.
    """

    name: str
    reference: str
    joints: str
    person_box: str = "the dataset's box"
    posetrack_map: bool = False


_LSTMPM_RULE = "the LSTMPM PCK rule (hit = dist <= alpha * L)"

#: Every protocol by name.
PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "lstmpm_penn",
            f"LSTMPM run_benchmark_GPU_PENN.m (lawy623/LSTM_Pose_Machines {LSTMPM_COMMIT})",
            "joints with the file's visibility == 1 (LSTMPM: label(3,joints,frame)==1)",
            "the label file's bbox (a missing last row repeats the previous one, PENN_PreData.m)",
        ),
        Protocol(
            "lstmpm_jhmdb",
            f"LSTMPM run_benchmark_GPU_JHMDB.m (lawy623/LSTM_Pose_Machines {LSTMPM_COMMIT})",
            "every joint of every frame, inside the image or not (LSTMPM's JHMDB loop)",
            "the puppet mask's box (getBox.m)",
        ),
        Protocol(
            "poseval",
            _LSTMPM_RULE,
            "annotated joints of each track's labelled key frame",
            "the annotation's bbox",
            posetrack_map=True,
        ),
        # Data without a reference evaluation of its own (synthetic clips): the clip contract's visibility.
        Protocol("pck", _LSTMPM_RULE, "visible joints (annotated, not occluded)"),
    )
}


def get_protocol(name: str | Protocol) -> Protocol:
    """The :class:`Protocol` named ``name``; a ``ValueError`` naming the choices otherwise."""
    if isinstance(name, Protocol):
        return name
    expect_choice("protocol", name, tuple(PROTOCOLS))
    return PROTOCOLS[name]


def describe_protocol(
    protocol: str | Protocol, layout: str | Skeleton, normalize: str, alpha: float, data: str | None = None
) -> str:
    """Lines naming the protocol, e.g. ``describe_protocol("lstmpm_penn", "penn_action", "person", 0.2,
    data="penn_action")``; ``data`` (the dataset's name) heads the first line, the protocol's when ``None``."""
    protocol = get_protocol(protocol)
    skeleton = get_skeleton(layout)
    alpha = check_alpha(alpha)
    if normalize == "torso":
        a, b = skeleton.torso
        normaliser = f"torso |{a} - {b}| (the predicted torso where the ground truth's is under 1 px or unknown)"
    elif normalize == "person":
        normaliser = f"person size max(w, h) of {protocol.person_box} (zero or negative boxes count as misses)"
    else:
        raise ValueError(f"normalize: expected 'person' or 'torso', got {normalize!r}")
    lines = [
        f"protocol: {protocol.name if data is None else data}, PCK@{alpha:g} as {protocol.reference}",
        f"  normaliser L: {normaliser}",
        f"  joints counted: {protocol.joints}; {skeleton.num_joints} joints ({skeleton.name})",
    ]
    if protocol.posetrack_map:
        lines.append(
            f"  mAP: poseval evaluateAP (leonid-pishchulin/poseval {POSEVAL_COMMIT[:7]}), PCKh@0.5 of 0.6 x the head "
            f"box diagonal, {len(skeleton.scored_index)} joints (ears not scored), on ground-truth boxes"
        )
    return "\n".join(lines)

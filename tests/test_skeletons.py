"""Joint layouts: orders as the datasets' documentation lists them, derived flip pairs and groups."""

import pytest

from posemods.skeletons import COCO_17, GROUP_NAMES, JHMDB_15, PENN_ACTION_13, POSETRACK_17, get_skeleton


def test_penn_action_order_is_the_readme_list():
    assert PENN_ACTION_13.joint_names == (
        "head",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    )  # fmt: skip
    assert PENN_ACTION_13.flip_pairs == ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12))


def test_jhmdb_order_is_the_joint_positions_order():
    assert JHMDB_15.joint_names == (
        "neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip", "left_hip",
        "right_elbow", "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist",
        "right_ankle", "left_ankle",
    )  # fmt: skip
    assert JHMDB_15.flip_pairs == ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14))


def test_posetrack_replaces_the_coco_eyes_and_scores_fifteen_joints():
    assert COCO_17.joint_names[:5] == ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
    assert POSETRACK_17.joint_names[:5] == ("nose", "head_bottom", "head_top", "left_ear", "right_ear")
    assert POSETRACK_17.joint_names[5:] == COCO_17.joint_names[5:]
    assert len(POSETRACK_17.scored_index) == 15 and 3 not in POSETRACK_17.scored_index
    assert POSETRACK_17.groups["Head"] == (0, 1, 2)
    assert COCO_17.flip_pairs[:2] == ((1, 2), (3, 4))


@pytest.mark.parametrize("skeleton", [PENN_ACTION_13, JHMDB_15, COCO_17, POSETRACK_17], ids=lambda s: s.name)
def test_layout_invariants(skeleton):
    flip = skeleton.flip_index
    assert all(flip[flip[j]] == j for j in range(skeleton.num_joints))
    for j, k in enumerate(flip):
        assert skeleton.joint_names[j].replace("left", "X").replace("right", "X") == skeleton.joint_names[k].replace(
            "left", "X"
        ).replace("right", "X")
    assert tuple(skeleton.groups) == GROUP_NAMES
    grouped = [j for g in skeleton.groups.values() for j in g]
    assert len(grouped) == len(set(grouped))
    assert set(skeleton.upper_body).isdisjoint(skeleton.lower_body)
    assert all(0 <= a < skeleton.num_joints and 0 <= b < skeleton.num_joints for a, b in skeleton.edge_index)
    assert get_skeleton(skeleton.name) is skeleton


def test_unknown_layout_and_joint_raise():
    with pytest.raises(ValueError, match="layout"):
        get_skeleton("mpii")
    with pytest.raises(ValueError, match="no joint 'tail'"):
        PENN_ACTION_13.index("tail")


def test_torso_pairs_are_the_reference_evaluations_joints():
    # LSTMPM's Penn code: norm(label(:,3) - label(:,8)), 1-based Penn joints 3 and 8; its JHMDB code:
    # norm(label(:,5) - label(:,6)), 1-based pos_img joints 5 and 6.
    assert PENN_ACTION_13.index(PENN_ACTION_13.torso[0]) == 3 - 1
    assert PENN_ACTION_13.index(PENN_ACTION_13.torso[1]) == 8 - 1
    assert JHMDB_15.index(JHMDB_15.torso[0]) == 5 - 1
    assert JHMDB_15.index(JHMDB_15.torso[1]) == 6 - 1

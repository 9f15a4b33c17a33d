"""A literal re-statement of LSTMPM's MATLAB PCK loop, written from the reference, not from posemods.

github:lawy623/LSTM_Pose_Machines (commit 68a9212), testing/src/run_benchmark_GPU_PENN.m and
run_benchmark_GPU_JHMDB.m. MATLAB indices stay 1-based here so each line can be read beside the
original; ``label`` is the (3, J) [x; y; visibility] of one frame, ``pred_x``/``pred_y`` the J
predicted coordinates, ``bbox`` the frame's (x1, y1, x2, y2).
"""

import math


def norm(a, b):
    return math.hypot(a[0] - b[0], a[1] - b[1])


def lstmpm_pck(frames, torso_norm, torso_joints, count_every_joint, alpha=0.2):
    """``(detected, obj)`` per joint over ``frames``: [(label, pred_x, pred_y, bbox), ...].

    ``torso_joints``: the 1-based (shoulder, hip) of ``bodysize`` (Penn: (3, 8); JHMDB: (5, 6)).
    ``count_every_joint``: JHMDB's loop counts every joint; Penn's only ``label(3,joints,frame)==1``.
    """
    num_joints = len(frames[0][1])
    obj = [0] * num_joints
    detected = [0] * num_joints
    s, h = torso_joints
    for label, pred_x, pred_y, bbox in frames:
        # %PCK0.2 dectection
        if torso_norm == 1:
            bodysize = norm([label[0][s - 1], label[1][s - 1]], [label[0][h - 1], label[1][h - 1]])
            if bodysize < 1:
                bodysize = norm([pred_x[s - 1], pred_y[s - 1]], [pred_x[h - 1], pred_y[h - 1]])
        else:
            bodysize = max(bbox[2] - bbox[0], bbox[3] - bbox[1])
        for joints in range(1, num_joints + 1):
            if count_every_joint or label[2][joints - 1] == 1:
                error_dist = norm(
                    [pred_x[joints - 1], pred_y[joints - 1]], [label[0][joints - 1], label[1][joints - 1]]
                )
                hit = error_dist <= bodysize * alpha
                obj[joints - 1] += 1
                if hit:
                    detected[joints - 1] += 1
    return detected, obj


def penn_predata_bbox(bbox, nframes):
    """PENN_PreData.m's fix of a short ``bbox`` (videos 1154 and 1865 of the release): "Manually add
    the bbox using the previous frame", ``summary.bbox{1865}(73,:)=summary.bbox{1865}(72,:);``."""
    rows = [list(row) for row in bbox]
    while len(rows) < nframes:
        rows.append(list(rows[-1]))
    return rows


def get_box(mask):
    """dataset/JHMDB/utils/getBox.m on a (dim1, dim2) list of lists, MATLAB's 1-based linear indices."""
    dim1 = len(mask)
    dim2 = len(mask[0])
    mask_col = [mask[r][c] for c in range(dim2) for r in range(dim1)]  # mask(:), column-major
    found = [i + 1 for i, v in enumerate(mask_col) if v]
    pos1, pos2 = found[0], found[-1]  # find(mask_col,1,'first'), find(mask_col,1,'last')
    mask_row = [mask[r][c] for r in range(dim1) for c in range(dim2)]  # mask'(:)
    found = [i + 1 for i, v in enumerate(mask_row) if v]
    pos3, pos4 = found[0], found[-1]
    bbox = [0, 0, 0, 0]
    bbox[0] = math.floor(pos1 / dim1) + 1
    bbox[2] = math.floor(pos2 / dim1) + 1
    bbox[1] = math.floor(pos3 / dim2) + 1
    bbox[3] = math.floor(pos4 / dim2) + 1
    return bbox

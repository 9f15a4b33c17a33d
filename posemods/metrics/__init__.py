"""Metrics for video pose estimation: PCK (Penn Action, Sub-JHMDB), PoseTrack mAP, heatmap decoding.

They take predictions and ground truth as tensors or arrays, never models. Never imported by
``import posemods``.
"""

from posemods.metrics.decode import decode_heatmaps, decode_to_image, heatmap_to_image
from posemods.metrics.pck import PCK, check_alpha, pck, pck_hits, torso_normalizer
from posemods.metrics.posetrack_map import points_in_polygon, posetrack_map, precision_recall, voc_ap
from posemods.metrics.protocol import PROTOCOLS, Protocol, describe_protocol, get_protocol
from posemods.metrics.rpstn import RPSTNPCK, describe_rpstn_protocol, heatmap_argmax, rpstn_clip_pck

__all__ = [
    "PCK",
    "PROTOCOLS",
    "RPSTNPCK",
    "Protocol",
    "check_alpha",
    "decode_heatmaps",
    "decode_to_image",
    "describe_protocol",
    "describe_rpstn_protocol",
    "get_protocol",
    "heatmap_argmax",
    "heatmap_to_image",
    "pck",
    "pck_hits",
    "points_in_polygon",
    "posetrack_map",
    "precision_recall",
    "rpstn_clip_pck",
    "torso_normalizer",
    "voc_ap",
]

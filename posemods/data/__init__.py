"""Data for video pose estimation: synthetic clips, dataset readers, the top-down crop and targets.

Every dataset returns clips following the contract in :mod:`posemods.data.clip`. This package knows
nothing of the models and is never imported by ``import posemods``. The readers of ``.mat`` files
need scipy: ``pip install posemods[data]``.

Each reader registers its dataset at the end of its file (:mod:`posemods.data.registry`); importing
this package imports them all, so ``list_datasets()`` names every one and ``create_dataset(name,
train=...)`` builds it.
"""

from posemods.data.clip import CLIP_SPECS, check_clip, make_clip
from posemods.data.geometry import (
    apply_affine,
    box_to_center_size,
    crop_affine,
    flip_joints,
    invert_affine,
    warp_frames,
)
from posemods.data.heatmaps import gaussian_heatmaps
from posemods.data.hiding import HiddenFrames
from posemods.data.jhmdb import SubJHMDB, read_jhmdb, read_jhmdb_split
from posemods.data.occlusion import OcclusionMasks
from posemods.data.penn_action import PennAction, read_penn_action
from posemods.data.posetrack import PoseTrack, read_posetrack, read_posetrack_frames
from posemods.data.registry import (
    DatasetFilesError,
    DatasetOptions,
    DatasetSpec,
    create_dataset,
    get_dataset_spec,
    list_datasets,
    register_dataset,
)
from posemods.data.rpstn import RPSTNPennAction  # joins Penn Action's pipelines as "rpstn"
from posemods.data.synthetic import SyntheticPoseVideos
from posemods.data.transforms import Augmentation, TopDownTransform
from posemods.data.video_dataset import VideoPoseDataset, VideoRecord

__all__ = [
    "CLIP_SPECS",
    "Augmentation",
    "DatasetFilesError",
    "DatasetOptions",
    "DatasetSpec",
    "HiddenFrames",
    "OcclusionMasks",
    "PennAction",
    "PoseTrack",
    "RPSTNPennAction",
    "SubJHMDB",
    "SyntheticPoseVideos",
    "TopDownTransform",
    "VideoPoseDataset",
    "VideoRecord",
    "apply_affine",
    "box_to_center_size",
    "check_clip",
    "create_dataset",
    "crop_affine",
    "flip_joints",
    "gaussian_heatmaps",
    "get_dataset_spec",
    "invert_affine",
    "list_datasets",
    "make_clip",
    "read_jhmdb",
    "read_jhmdb_split",
    "read_penn_action",
    "read_posetrack",
    "read_posetrack_frames",
    "register_dataset",
    "warp_frames",
]

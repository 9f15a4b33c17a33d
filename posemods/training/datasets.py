"""The training and evaluation datasets of a run, from its :class:`~posemods.training.TrainConfig`.

Synthetic data is the default: nothing to download, learning shows in minutes on a CPU. The real
datasets are read from ``data_root`` with the readers of :mod:`posemods.data` (their training sets
augmented, their evaluation sets covering every frame once).
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from posemods.skeletons import Skeleton, get_skeleton
from posemods.training.config import JHMDB_SPLITS, TrainConfig
from posemods.training.registry import ModelSpec

#: The synthetic evaluation clips use this seed offset, so they never repeat a training clip.
EVAL_SEED_OFFSET = 1_000


def build_datasets(
    config: TrainConfig, spec: ModelSpec, train: bool = True
) -> tuple[Dataset | None, Dataset, Skeleton]:
    """``(training set or None, evaluation set, joint layout)`` for ``config``.

    The targets are rendered at the model's heatmap size (``input_size / spec.stride``).
    """
    heatmap_size = spec.heatmap_size(config.input_size)
    common = {"clip_length": config.clip_length, "heatmap_size": heatmap_size, "sigma": config.sigma}
    if config.data == "synthetic":
        from posemods.data import SyntheticPoseVideos

        def synthetic(num_clips: int, seed: int) -> Dataset:
            return SyntheticPoseVideos(
                num_clips=num_clips,
                frame_size=config.input_size,
                seed=seed,
                distractors=config.distractors,
                occluders=config.occluders,
                occluder_size=config.occluder_size,
                motion_blur=config.motion_blur,
                **common,
            )

        eval_set = synthetic(config.eval_clips, config.seed + EVAL_SEED_OFFSET)
        train_set = synthetic(config.train_clips, config.seed) if train else None
        return train_set, eval_set, eval_set.skeleton

    # A key-frame model scores one frame per clip, so it gets one clip per frame to score them all.
    common.update(input_size=config.input_size, seed=config.seed, every_frame_as_key=spec.output == "key")
    from posemods.data import Augmentation

    common["augmentation"] = Augmentation(half_body_prob=config.half_body_prob)  # used by training sets only
    root = Path(config.data_root)
    if config.data == "penn_action":
        from posemods.data import PennAction

        reader = PennAction
        if config.pipeline == "rpstn":  # the RPSTN authors' clips, crop, augmentation and targets
            from posemods.data.rpstn import RPSTN_PENN_AUGMENTATION, RPSTNPennAction

            reader, common["augmentation"] = RPSTNPennAction, RPSTN_PENN_AUGMENTATION
        make = lambda training: reader(root, split="train" if training else "test", train=training, **common)
        layout = "penn_action"
    elif config.data == "jhmdb":
        from posemods.data import SubJHMDB

        split = str(config.split or 1)
        if split not in JHMDB_SPLITS:  # TrainConfig checks it too; this guards a config changed after
            raise ValueError(f"split: expected one of JHMDB's splits {JHMDB_SPLITS}, got {config.split!r}")
        split = int(split)
        make = lambda training: SubJHMDB(root, split=split, subset="train" if training else "test", **common)
        layout = "jhmdb"
    else:
        from posemods.data import PoseTrack

        folder = lambda training: Path(config.annotations) / ("train" if training else "val")
        make = lambda training: PoseTrack(root, folder(training), train=training, **common)
        layout = "posetrack"
    return (make(True) if train else None), make(False), get_skeleton(layout)

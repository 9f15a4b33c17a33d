"""The training and evaluation datasets of a run, from its :class:`~posemods.training.TrainConfig`.

Every dataset comes from :mod:`posemods.data`'s registry (``config.data`` is its name): this module
only turns the config and the model's heatmap size into the registry's options, so it names no
dataset. Synthetic data is the default: nothing to download, learning shows in minutes on a CPU.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from torch.utils.data import Dataset

from posemods.data import Augmentation, create_dataset, get_dataset_spec
from posemods.metrics import Protocol, get_protocol
from posemods.skeletons import Skeleton
from posemods.training.config import TrainConfig

if TYPE_CHECKING:
    from posemods.models import ModelSpec


def dataset_options(config: TrainConfig, spec: ModelSpec) -> dict:
    """The options of :func:`posemods.data.create_dataset` that ``config`` sets for model ``spec``.

    The targets are rendered at the model's heatmap size (``input_size / spec.stride``); a key-frame
    model scores one frame per clip, so it gets one evaluation clip per frame to score them all.
    """
    dataset = get_dataset_spec(config.data)
    fields = {field.name for field in dataclasses.fields(config)}
    return {
        "data_root": config.data_root,
        "annotations": config.annotations,
        "split": config.split,
        "clip_length": config.clip_length,
        "input_size": config.input_size,
        "heatmap_size": spec.heatmap_size(config.input_size),
        "sigma": config.sigma,
        "seed": config.seed,
        "augmentation": Augmentation(half_body_prob=config.half_body_prob),  # used by training sets only
        "every_frame_as_key": spec.output == "key",
        # The dataset's own settings that are also flags (synthetic's occluders, ...).
        **{name: getattr(config, name) for name in dataset.options if name in fields},
    }


def dataset_protocol(config: TrainConfig) -> Protocol:
    """The evaluation protocol ``config``'s dataset names (a ``ValueError`` if metrics has no such protocol)."""
    return get_protocol(get_dataset_spec(config.data).protocol)


def build_datasets(
    config: TrainConfig, spec: ModelSpec, train: bool = True
) -> tuple[Dataset | None, Dataset, Skeleton]:
    """``(training set or None, evaluation set, joint layout)`` for ``config``."""
    dataset_protocol(config)  # a registration naming no known protocol fails before any training
    options = dataset_options(config, spec)
    train_set = create_dataset(config.data, train=True, **options) if train else None
    return train_set, create_dataset(config.data, train=False, **options), get_dataset_spec(config.data).skeleton

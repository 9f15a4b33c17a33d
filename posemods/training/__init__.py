"""Training and evaluation of the reference models: the pieces behind ``python -m posemods.train``.

=====================  =======================================================================
``registry``           a config's model: :func:`build_model`, the ``create_model`` arguments
                       (the registry itself: :mod:`posemods.models`, ``create_model``, ``list_models``)
``config``             :class:`TrainConfig`: a run's settings, saved in every checkpoint
``datasets``           the synthetic or real training and evaluation sets of a config
``loop``               loss, schedule, one train step, evaluation with PCK
``posetrack_eval``     PoseTrack mAP of a top-down model
``checkpoint``         checkpoints that resume exactly, digest-checked (:class:`CheckpointError`),
                       :func:`read_checkpoint` (a dict), :func:`load_model` (the model, ready)
``distributed``        torchrun/DDP setup (NCCL on GPU, gloo on CPU)
``fit``                a whole run
=====================  =======================================================================

Never imported by ``import posemods``. The names that moved (``MODELS``, ``ModelSpec``,
``get_model_spec``, ``register_model`` to :mod:`posemods.models`; ``load_checkpoint``, now
:func:`read_checkpoint`) still resolve here, with a ``DeprecationWarning``.
"""

from posemods.training import registry
from posemods.training.checkpoint import (
    CheckpointError,
    load_model,
    read_checkpoint,
    save_checkpoint,
    save_weights,
)
from posemods.training.checkpoint import load_checkpoint as load_checkpoint  # deprecated: read_checkpoint
from posemods.training.config import TrainConfig
from posemods.training.datasets import build_datasets
from posemods.training.fit import fit
from posemods.training.loop import evaluate, heatmap_loss, predict, train_step
from posemods.training.registry import build_model

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "build_datasets",
    "build_model",
    "evaluate",
    "fit",
    "heatmap_loss",
    "load_model",
    "predict",
    "read_checkpoint",
    "save_checkpoint",
    "save_weights",
    "train_step",
]


def __getattr__(name: str):
    """The registry's old names, moved to posemods.models (each access warns)."""
    if name in registry.MOVED:
        return registry.moved(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Training and evaluation of the reference models: the pieces behind ``python -m posemods.train``.

=====================  =======================================================================
``registry``           :class:`ModelSpec`, :data:`MODELS`, :func:`register_model`
``config``             :class:`TrainConfig`: a run's settings, saved in every checkpoint
``datasets``           the synthetic or real training and evaluation sets of a config
``loop``               loss, schedule, one train step, evaluation with PCK
``posetrack_eval``     PoseTrack mAP of a top-down model
``checkpoint``         checkpoints that resume exactly, digest-checked (:class:`CheckpointError`)
``distributed``        torchrun/DDP setup (NCCL on GPU, gloo on CPU)
``fit``                a whole run
=====================  =======================================================================

Never imported by ``import posemods``.
"""

from posemods.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from posemods.training.config import TrainConfig
from posemods.training.datasets import build_datasets
from posemods.training.fit import build_model, fit
from posemods.training.loop import evaluate, heatmap_loss, predict, train_step
from posemods.training.registry import MODELS, ModelSpec, get_model_spec, register_model

__all__ = [
    "MODELS",
    "CheckpointError",
    "ModelSpec",
    "TrainConfig",
    "build_datasets",
    "build_model",
    "evaluate",
    "fit",
    "get_model_spec",
    "heatmap_loss",
    "load_checkpoint",
    "predict",
    "register_model",
    "save_checkpoint",
    "train_step",
]

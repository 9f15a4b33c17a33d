"""From a run's :class:`~posemods.training.TrainConfig` to the model registry's arguments, and back.

The registry itself, with every model's default configuration, stands beside the models
(:mod:`posemods.models._registry`: :func:`~posemods.models.create_model`,
:func:`~posemods.models.list_models`, :class:`~posemods.models.ModelSpec`); ``posemods.models`` never
imports training, so this module turns a config into the plain arguments ``create_model`` takes.
Those arguments are what checkpoints store as ``model_config`` (:func:`model_config`).

``MODELS``, ``ModelSpec``, ``get_model_spec`` and ``register_model`` used to live here; they still
resolve, with a ``DeprecationWarning``, to the registry's.
"""

from __future__ import annotations

import warnings

from torch import nn

import posemods.models._registry as model_registry
from posemods.data import get_dataset_spec
from posemods.training.config import TrainConfig


def model_config(config: TrainConfig, num_joints: int) -> dict:
    """The :func:`~posemods.models.create_model` arguments of ``config``'s model with ``num_joints``
    joints (the data decides them): ``create_model(**model_config(config, J))`` builds it."""
    return {
        "name": config.model,
        "num_joints": num_joints,
        "variant": config.variant,
        "preset": config.preset,
        "input_size": config.input_size,
        "clip_length": config.clip_length,
        **config.model_kwargs,
    }


def build_model(config: TrainConfig, num_joints: int) -> tuple[nn.Module, model_registry.ModelSpec]:
    """``config``'s model with random weights, and its registry entry."""
    return model_registry.create_model(**model_config(config, num_joints)), model_registry.get_model_spec(config.model)


def saved_model_config(saved: dict) -> dict:
    """The ``create_model`` arguments of a checkpoint written before checkpoints stored them, from
    its saved config (``TrainConfig.to_dict()``).

    Those checkpoints name their data but not its joints; the dataset registry's layout gives them.
    """
    config = TrainConfig.from_dict(saved)
    arguments = model_config(config, get_dataset_spec(config.data).skeleton.num_joints)
    # As create_model records it: the saved weights replace those of any weights file it was built from.
    return {k: v for k, v in arguments.items() if not k.endswith(model_registry.WEIGHT_FILE_SUFFIX)}


def _deprecated_register_model(spec: model_registry.ModelSpec) -> model_registry.ModelSpec:
    return model_registry.add_model(spec)


#: Old name -> (its attribute in posemods.models._registry, or None for a wrapper; its new home).
MOVED = {
    "MODELS": ("MODELS", "posemods.models.MODELS"),
    "ModelSpec": ("ModelSpec", "posemods.models.ModelSpec"),
    "get_model_spec": ("get_model_spec", "posemods.models.get_model_spec"),
    "register_model": (None, "posemods.models.add_model (or @posemods.models.register_model next to the class)"),
}


def moved(name: str, stacklevel: int = 2):
    """The registry's object an old name of this module stands for, with a ``DeprecationWarning``
    pointing ``stacklevel`` frames up (the caller that used the old name)."""
    attribute, home = MOVED[name]
    warnings.warn(
        f"posemods.training.{name} moved to {home}: the registry stands beside the models",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return _deprecated_register_model if attribute is None else getattr(model_registry, attribute)


def __getattr__(name: str):
    if name not in MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return moved(name)

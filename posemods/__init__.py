"""posemods: drop-in PyTorch modules for video human pose estimation.

>>> from posemods import KMM
>>> kmm = KMM(in_channels=256, num_joints=13)

Every op and module takes ``backend="auto" | "reference" | "triton"``; see :func:`use_backend`.
Shapes in docstrings use the vocabulary of :mod:`posemods._shapes`.

The reference models by name, as timm's: ``posemods.list_models("*")``,
``posemods.create_model("kimnet", preset="tiny")`` and ``posemods.load_model("runs/x/last.pt")``.
They are imported on first use, so ``import posemods`` stays light (no timm, no models).
"""

import logging
from typing import TYPE_CHECKING

from posemods import functional
from posemods._backend import use_backend
from posemods.modules import (
    BMD,
    DCA,
    HKM,
    KMM,
    BidirectionalMotionDisentangle,
    CrossAttention,
    DeformableConvMotion,
    DeformableCrossAttention,
    HKMOutput,
    HumanKeypointMask,
    KinematicsModelingModule,
)

if TYPE_CHECKING:
    from posemods.models import create_model, list_models
    from posemods.training.checkpoint import load_model

__all__ = [
    "BMD",
    "DCA",
    "HKM",
    "KMM",
    "BidirectionalMotionDisentangle",
    "CrossAttention",
    "DeformableConvMotion",
    "DeformableCrossAttention",
    "HKMOutput",
    "HumanKeypointMask",
    "KinematicsModelingModule",
    "create_model",
    "functional",
    "list_models",
    "load_model",
    "use_backend",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    """The model registry's public face, imported when first asked for: the models pull in timm,
    torchvision and torch._dynamo, which a user of the modules alone never pays for."""
    if name in ("create_model", "list_models"):
        from posemods.models import create_model, list_models

        return {"create_model": create_model, "list_models": list_models}[name]
    if name == "load_model":
        from posemods.training.checkpoint import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# A library stays silent unless the application configures logging.
logging.getLogger("posemods").addHandler(logging.NullHandler())

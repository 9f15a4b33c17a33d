"""Complete, trainable reference models built from posemods' modules and timm backbones.

Never imported by ``import posemods``: ``from posemods.models import KIMNet``. Every backbone builds
with random weights and loads a local checkpoint path; nothing is downloaded.

Every model is registered by name next to its class, with its default configuration (the paper's
input size, joints, clip length, normalisation, stride, variants and size presets):
``create_model("kimnet", preset="tiny")``, ``list_models("*stn")``, ``get_model_spec("vremd")`` (see
:mod:`posemods.models._registry`; ``posemods.create_model`` and ``posemods.list_models`` are the same).

Every temporal model takes ``temporal=``: ``"kmm"`` retrofits KIMNet's KMM in place of the model's
own temporal block (KIMNet Table 2), following the contract of :mod:`posemods.models.temporal`.
The papers' tables (KIMNET_TABLE2/4-7, VREMD_TABLE4-6) are data in :mod:`posemods.variants`.
"""

from posemods.models._registry import (
    MODELS,
    ModelSpec,
    add_model,
    create_model,
    get_model_spec,
    list_models,
    register_model,
)
from posemods.models.backbones import Backbone
from posemods.models.checkpoint import load_checkpoint, read_state_dict
from posemods.models.conv_lstm import ConvLSTMCell
from posemods.models.correction import PriorCorrection
from posemods.models.dkd import DKD
from posemods.models.heads import DeconvHead, TokenHeatmapHead
from posemods.models.kernel_distillation import JRPSP, PoseKernelDistillator
from posemods.models.kimnet import KIMNET_TEMPORAL, KIMNet
from posemods.models.lstmpm import LSTMPM
from posemods.models.recursive import RecursivePoseModel
from posemods.models.relation import JointRelationExtractor, RelationDecoder
from posemods.models.rpstn import RPSTN
from posemods.models.simple_baseline import SimpleBaseline
from posemods.models.summary import count_parameters, per_frame_latency, summary
from posemods.models.temporal import TEMPORAL_MODULES, TemporalModule, build_temporal
from posemods.models.vit import VIT_PRESETS, ViTBackbone
from posemods.models.vremd import VREMD, VREMD_TABLE4, VREMD_TABLE5, VREMD_TABLE6, VREMDOutput
from posemods.variants import (
    KIMNET_TABLE2,
    KIMNET_TABLE4,
    KIMNET_TABLE5,
    KIMNET_TABLE6,
    KIMNET_TABLE7,
    PAPER_TABLES,
    RECURSIVE_VARIANTS,
)

__all__ = [
    "DKD",
    "JRPSP",
    "KIMNET_TABLE2",
    "KIMNET_TABLE4",
    "KIMNET_TABLE5",
    "KIMNET_TABLE6",
    "KIMNET_TABLE7",
    "KIMNET_TEMPORAL",
    "LSTMPM",
    "MODELS",
    "PAPER_TABLES",
    "RECURSIVE_VARIANTS",
    "RPSTN",
    "TEMPORAL_MODULES",
    "VIT_PRESETS",
    "VREMD",
    "VREMD_TABLE4",
    "VREMD_TABLE5",
    "VREMD_TABLE6",
    "Backbone",
    "ConvLSTMCell",
    "DeconvHead",
    "JointRelationExtractor",
    "KIMNet",
    "ModelSpec",
    "PoseKernelDistillator",
    "PriorCorrection",
    "RecursivePoseModel",
    "RelationDecoder",
    "SimpleBaseline",
    "TemporalModule",
    "TokenHeatmapHead",
    "VREMDOutput",
    "ViTBackbone",
    "add_model",
    "build_temporal",
    "count_parameters",
    "create_model",
    "get_model_spec",
    "list_models",
    "load_checkpoint",
    "per_frame_latency",
    "read_state_dict",
    "register_model",
    "summary",
]

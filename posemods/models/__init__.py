"""Complete, trainable reference models built from posemods' modules and timm backbones.

Never imported by ``import posemods``: ``from posemods.models import KIMNet``. Every backbone builds
with random weights and loads a local checkpoint path; nothing is downloaded.

Every temporal model takes ``temporal=``: ``"kmm"`` retrofits KIMNet's KMM in place of the model's
own temporal block (KIMNet Table 2), following the contract of :mod:`posemods.models.temporal`.
The papers' tables (KIMNET_TABLE2/4-7, VREMD_TABLE4-6) are data in :mod:`posemods.variants`.
"""

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
    "PoseKernelDistillator",
    "PriorCorrection",
    "RecursivePoseModel",
    "RelationDecoder",
    "SimpleBaseline",
    "TemporalModule",
    "TokenHeatmapHead",
    "VREMDOutput",
    "ViTBackbone",
    "build_temporal",
    "count_parameters",
    "load_checkpoint",
    "per_frame_latency",
    "read_state_dict",
    "summary",
]

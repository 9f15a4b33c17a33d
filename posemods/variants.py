"""The papers' tables as data: every named model variant and ablation row, in one module.

The models (:mod:`posemods.models` re-exports these tables) and their registrations, which give the
train/evaluate CLIs their ``--variant`` names (:mod:`posemods.models._registry`), read them alike. The
module imports nothing but the standard library: the tables can be read without the models (and timm).

One dict per paper table, each row with the paper's words beside it:

- KIMNet (kimnet.txt): :data:`KIMNET_TABLE2` (KMM in LSTMPM, DKD, RPSTN), :data:`KIMNET_TABLE4`
  (temporal modules), :data:`KIMNET_TABLE5` (KMM's design), :data:`KIMNET_TABLE6` (KMM's input
  resolution), :data:`KIMNET_TABLE7` (feature encoders). A row is constructor arguments of the
  recursive model (``KIMNet(**row)``; Table 2's also name the ``model``).
- VREMD (vremd.txt): :data:`VREMD_TABLE4` (``VREMD(**row)``), :data:`VREMD_TABLE5` (HKM arguments,
  VREMD's ``hkm_kwargs``), :data:`VREMD_TABLE6` (BMD arguments, VREMD's ``bmd_kwargs``).

:func:`cli_variants` turns them into each CLI model's ``--variant`` names: the bare names of old
(``kmm``, ``none``, ``hkm+bmd``...) and one ``tableN:row`` name per row of every table above
(``--model vremd --variant table6:da``, ``--model kimnet --variant table7:res18``).

:data:`RECURSIVE_VARIANTS` configures the one recursive model,
:class:`~posemods.models.recursive.RecursivePoseModel`, for each family (KIMNet, RPSTN, DKD) and each
value of its ``temporal=`` argument. A row says which blocks a later frame t goes through::

    m_t = decoder(correction(temporal(f_{t-1}, f_t, m_{t-1}), f_t))      (KIMNet eq. 2 and 5)

========== ===========================================================================================
key        meaning
========== ===========================================================================================
temporal   the temporal module (``"kmm"``, ``"jrpsp"``, ``"dkd"``, see ``build_temporal``) or ``None``
inputs     what the temporal module correlates: ``"features"`` (``f_{t-1}``, ``f_t``) or
           ``"heatmaps"`` (``m_{t-1}`` and the pose initializer's heatmaps of frame t)
correction what KIMNet's ``Conv_d(Conv_g(concat[...]))`` sees: ``("prior", "features")``, one of
           them, or ``()`` for no correction (the temporal module's J maps go on directly)
decoder    whether RPSTN's joint relation extractor refines every frame's heatmaps (KIMNet eq. 6)
========== ===========================================================================================
"""

from __future__ import annotations

import copy

_KIMNET = {"temporal": "kmm", "inputs": "features", "correction": ("prior", "features"), "decoder": True}

#: family -> variant (the ``temporal=`` argument) -> row; the first variant of a family is its default.
RECURSIVE_VARIANTS: dict[str, dict[str, dict]] = {
    # KIMNet's Tables 4 and 5.
    "kimnet": {
        "kmm": _KIMNET,
        # Table 4 "Predicted": the KMM prior alone; KMM's query still comes from f_t.
        "predicted": {**_KIMNET, "correction": ("prior",)},
        # Table 4: JRPSP / the pose kernel distillator in KMM's place; correction and decoder stay.
        "jrpsp": {**_KIMNET, "temporal": "jrpsp"},
        "dkd": {**_KIMNET, "temporal": "dkd"},
        # Table 4 "Baseline": no temporal module, frames are independent.
        "none": {**_KIMNET, "temporal": None, "correction": ("features",)},
        # Table 5 "KIMNet-Heatmap": "We adopt heatmaps in two frames to model the temporal correlation
        # between joints". Our reading: KMM's key comes from m_{t-1} and its query from the pose
        # initializer's heatmaps of frame t (the only heatmaps of frame t that exist before its prior).
        "heatmap": {**_KIMNET, "inputs": "heatmaps"},
    },
    # RPSTN as the authors' code builds it (github:YHDang/RPSTN f7dcd3e, lib/models/dkd_net.py,
    # DKD_Network.forward): the kernel distillation's J maps go straight to the relation decoder, which
    # every frame shares; that decoder is the "joint relation guidance" of its JRPSP, so the temporal
    # block itself is the bare distillator. "kmm" retrofits KMM plus KIMNet's correction.
    "rpstn": {
        "original": {**_KIMNET, "temporal": "dkd", "correction": ()},
        "kmm": _KIMNET,
    },
    # DKD: the authors' repository has no DKD model; this is their RPSTN without its relation decoder
    # (the distillator's maps are the heatmaps). "kmm" as for RPSTN, still without decoder.
    "dkd": {
        "original": {**_KIMNET, "temporal": "dkd", "correction": (), "decoder": False},
        "kmm": {**_KIMNET, "decoder": False},
    },
}

#: LSTMPM is not a :class:`RecursivePoseModel` (it carries a ConvLSTM state) but has the same two rows.
LSTMPM_VARIANTS: tuple[str, ...] = ("original", "kmm")


def default_variant(family: str) -> str:
    """The variant a family's model is built with when ``temporal`` is not given."""
    return next(iter(RECURSIVE_VARIANTS[family]))


# VREMD's Tables 4-6 (vremd.txt). Tables 5 and 6 ablate inside the full model ("(d) ... 87.6",
# VREMD's own score), so their rows go with hkm=True, bmd=True.

VREMD_TABLE4: dict[str, dict[str, bool]] = {
    # "we establish a baseline for this experiment by coupling a Vision Transformer (ViT) Backbone with
    # a pose detection head"
    "baseline": {"hkm": False, "bmd": False},
    # "(a) Integrating the Human-Keypoint Mask Enhanced module (HKME) into the baseline"
    "hkm": {"hkm": True, "bmd": False},
    # "(b) ... we exclusively incorporate the Bidirectional Motion Disentanglement module (BMD) into the
    # baseline system. Notably, the Adaptive Deformable Cross (ADC) block, which originally utilized
    # enhanced features from the HKME, now receives backbone output features instead."
    "bmd": {"hkm": False, "bmd": True},
    # "(c) Finally, we incorporate both the HKME and BMD modules into our framework"
    "hkm+bmd": {"hkm": True, "bmd": True},
}
"""Table 4, "Study on components of VREMD": VREMD constructor flags."""

VREMD_TABLE5: dict[str, dict[str, bool]] = {
    # "(a) Generating visual representations using only the spatio-temporal Transformers network."
    "none": {"human_mask": False, "keypoint_mask": False},
    # "(b) Producing a human mask for coarse filtering of human-related tokens."
    "human": {"human_mask": True, "keypoint_mask": False},
    # "(c) Calculating a keypoint mask for basic joint token screening."
    "keypoint": {"human_mask": False, "keypoint_mask": True},
    # "(d) Utilizing dual masks, derived from methods (b) and (c), for the progressive refinement and
    # enhancement of visual tokens, transitioning from coarse to fine detail."
    "human+keypoint": {"human_mask": True, "keypoint_mask": True},
}
"""Table 5, "Study on Human-Keypoint Mask Enhanced module": HKM arguments (VREMD's ``hkm_kwargs``).

The rows differ only in the two masks. A mask that is off is all ones; the human and keypoint tokens,
their blocks, and with the keypoint tokens VREMD's keypoint head H_k, stay in every row."""

VREMD_TABLE6: dict[str, dict[str, str | bool]] = {
    # "(a) We first replace our Adaptive Deformable Cross (ADC) block with the deformable conv (DC),
    # as adopted in previous works": offsets from the motion features, a 3 x 3 deform_conv2d, no
    # cross attention, no F.
    "dc": {"operator": "dc", "bidirectional": False},
    # "(b) We further employ plain deformable attention (DA)": Deformable DETR's, offsets and weights
    # from the motion query alone, no cross attention, no F.
    "da": {"operator": "da", "bidirectional": False},
    # "(c) We propose a novel deformable attention and selective feature highlighting of cross
    # attention": the ADC block (DCA constrained by F, and the cross attention), without BS.
    "dca": {"operator": "dca", "bidirectional": False},
    # "(d) Finally, we apply a bidirectional separation (BS) strategy to independently capture
    # bidirectional motion dynamics ... unlike previous methods that concatenate and jointly process
    # bidirectional motion features."
    "dca+bs": {"operator": "dca", "bidirectional": True},
}
"""Table 6, "Study on Bidirectional Motion Disentanglement module": BMD arguments (VREMD's
``bmd_kwargs``). Rows (a)-(c) have no BS: the two motion maps are concatenated and processed by one
stream, "the practice of earlier methods"."""


# KIMNet's tables (kimnet.txt). Rows are RecursivePoseModel arguments: ``temporal`` names a row of
# RECURSIVE_VARIANTS["kimnet"], ``temporal_kwargs`` go to KMM, ``encoder_backbone`` is the timm encoder.

KIMNET_TABLE2: dict[str, dict] = {
    # "We integrate KMM into various pose estimation frameworks, including LSTMPM [5], DKD [11], and
    # RPSTN [12] ... Specifically, we replace the temporal modeling modules in raw backbones with the KMM."
    "lstmpm": {"model": "lstmpm", "temporal": "original"},
    "lstmpm-kmm": {"model": "lstmpm", "temporal": "kmm"},
    "dkd": {"model": "dkd", "temporal": "original"},
    "dkd-kmm": {"model": "dkd", "temporal": "kmm"},
    "rpstn": {"model": "rpstn", "temporal": "original"},
    "rpstn-kmm": {"model": "rpstn", "temporal": "kmm"},
}
"""Table 2, "Verification of KMM's generality": ``model`` is the CLI model, ``temporal`` its argument."""

KIMNET_TABLE4: dict[str, dict] = {
    # "We first remove the temporal modeling module, i.e., the Baseline."
    "baseline": {"temporal": "none"},
    # "we remove the features for frame t + 1 (i.e., F(I_{t+1}) in eq. 2, and denote it as
    # "Predicted" in Table 4)": the KMM prior alone, no correction from the current frame's features.
    "predicted": {"temporal": "predicted"},
    # "we successively replace the KMM in KIMNet with DKD and JRPSP"
    "dkd": {"temporal": "dkd"},
    "jrpsp": {"temporal": "jrpsp"},
    "kimnet": {"temporal": "kmm"},
}
"""Table 4, "Ablation studies about the temporal modeling module"."""

KIMNET_TABLE5: dict[str, dict] = {
    # "We adopt two 1x1 convolutions whose weights are shared to extract pose representations from
    # two adjacent frames, i.e., KIMNet-Shared-hc": Conv_h and Conv_c are one conv.
    "share-hc": {"temporal": "kmm", "temporal_kwargs": {"shared_projection": True}},
    # "We introduce the residual, i.e., heatmaps in frame t, into KMM ..., i.e., KIMNet-Residual":
    # m_{t-1} is added to KMM's prediction.
    "residual": {"temporal": "kmm", "temporal_kwargs": {"residual": True}},
    # "We adopt heatmaps in two frames to model the temporal correlation between joints, i.e.,
    # KIMNet-Heatmap". Our reading (the paper does not say which heatmaps): KMM's key comes from
    # m_{t-1} and its query from the pose initializer's heatmaps of frame t.
    "heatmap": {"temporal": "heatmap"},
    "kimnet": {"temporal": "kmm"},
}
"""Table 5, "Ablation studies about the rationality of KMM's design"."""

KIMNET_TABLE6: dict[str, dict] = {
    # ""KIMNet-S" represents the size of KMM's input is S x S": "We gradually reduce the resolution
    # of KMM's input". KMM resizes its joint maps and heatmaps to S x S and its prediction back.
    # KIMNet-64 is KIMNet itself at the paper's 256 x 256 input (64 x 64 heatmaps, an identity resize).
    f"kimnet-{size}": {"temporal": "kmm", "temporal_kwargs": {"resolution": size}}
    for size in (8, 16, 32, 64)
}
"""Table 6, "Ablation studies about the resolution of KMM's input"."""

KIMNET_TABLE7: dict[str, dict] = {
    # "We adopt various models, including SimpleBaseline [15] with different structures (ResNet-18,
    # ResNet-34, and ResNet-50), Hourglass [14], and HRNet [16] as the feature encoder". Only the
    # encoder changes; the pose initializer stays the preset's. No well-kept Hourglass exists to
    # reuse (timm has none), so KIMNet (HG) is not a row. HRNet's width is not stated: W32, the
    # HRNet pose paper's standard size, its stride-4 branch read as HRNet's own head reads it.
    "res18": {"temporal": "kmm", "encoder_backbone": "resnet18"},
    "res34": {"temporal": "kmm", "encoder_backbone": "resnet34"},
    "hrnet": {"temporal": "kmm", "encoder_backbone": "hrnet_w32"},
    # "KIMNet† represents the structure used in this paper": SimpleBaseline with ResNet-50.
    "res50": {"temporal": "kmm", "encoder_backbone": "resnet50"},
}
"""Table 7, "Ablation studies about the feature encoder"."""

#: CLI model -> table name -> rows, as :func:`cli_variants` offers them (``--variant tableN:row``).
PAPER_TABLES: dict[str, dict[str, dict[str, dict]]] = {
    "kimnet": {"table4": KIMNET_TABLE4, "table5": KIMNET_TABLE5, "table6": KIMNET_TABLE6, "table7": KIMNET_TABLE7},
    "vremd": {
        "table4": VREMD_TABLE4,
        "table5": {row: {"hkm": True, "bmd": True, "hkm_kwargs": kw} for row, kw in VREMD_TABLE5.items()},
        "table6": {row: {"hkm": True, "bmd": True, "bmd_kwargs": kw} for row, kw in VREMD_TABLE6.items()},
    },
}
for _row, _args in KIMNET_TABLE2.items():
    _rest = {key: value for key, value in _args.items() if key != "model"}
    PAPER_TABLES.setdefault(_args["model"], {}).setdefault("table2", {})[_row] = _rest


def cli_variants(model: str) -> dict[str, dict]:
    """Every ``--variant`` name of CLI ``model`` -> its constructor arguments (fresh copies).

    First the bare names (the ``temporal=`` values of the recursive models and LSTMPM, VREMD's
    Table 4 rows); then ``tableN:row`` for each row of each paper table
    of :data:`PAPER_TABLES` that builds this model.
    """
    if model in RECURSIVE_VARIANTS:
        bare = {mode: {"temporal": mode} for mode in RECURSIVE_VARIANTS[model]}
    elif model == "lstmpm":
        bare = {mode: {"temporal": mode} for mode in LSTMPM_VARIANTS}
    elif model == "vremd":
        bare = dict(VREMD_TABLE4)
    else:
        raise ValueError(f"model: expected one of {', '.join([*RECURSIVE_VARIANTS, 'lstmpm', 'vremd'])}, got {model!r}")
    qualified = {
        f"{table}:{row}": args for table, rows in PAPER_TABLES.get(model, {}).items() for row, args in rows.items()
    }
    return copy.deepcopy({**bare, **qualified})

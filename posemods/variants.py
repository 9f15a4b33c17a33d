"""Named model variants as data: the one table that the models and the train/evaluate CLIs both read.

It imports nothing, so the CLIs list and check variants without importing the models (and timm).

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
    # RPSTN: the JRPSP's J maps go straight to the decoder; "kmm" retrofits KMM plus KIMNet's correction.
    "rpstn": {
        "original": {**_KIMNET, "temporal": "jrpsp", "correction": ()},
        "kmm": _KIMNET,
    },
    # DKD: the distillator's maps are the heatmaps, no decoder; "kmm" as for RPSTN, still without decoder.
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

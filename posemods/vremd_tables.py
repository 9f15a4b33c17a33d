"""VREMD's ablation tables (vremd.txt, Tables 4-6) as data: one source for the models and the CLIs.

Plain dictionaries with no imports, so :mod:`posemods.training.registry` reads them without
importing timm, and :mod:`posemods.models.vremd` re-exports them. Each row is what VREMD (Table 4)
or its ``hkm_kwargs`` (Table 5) / ``bmd_kwargs`` (Table 6) takes; Tables 5 and 6 ablate inside the
full model ("(d) ... 87.6", VREMD's own score), so their rows go with ``hkm=True, bmd=True``.
"""

from __future__ import annotations

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

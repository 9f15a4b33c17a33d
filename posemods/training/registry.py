"""The model registry: every model the train/evaluate CLIs can build, by name.

A :class:`ModelSpec` says how to build a model and what its output means, so one loop trains them
all: ``"clip"`` models map ``video (B, T, 3, H, W) -> heatmaps (B, T, J, H / s, W / s)`` (KIMNet,
RPSTN, DKD, LSTMPM), ``"key"`` models map it to the key frame's ``heatmaps (B, J, H / s, W / s)``
(VREMD), with the key frame at ``T // 2``. Shapes use the vocabulary of :mod:`posemods._shapes`.

Adding a model is one :func:`register_model` call (VREMD's, at the end of this file, is the example
of a ``"key"`` model built for one frame size and clip length).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from torch import nn

from posemods._shapes import expect_choice, expect_size
from posemods.variants import RECURSIVE_VARIANTS, cli_variants, default_variant


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one model family and read its output.

    Attributes:
        name: the CLI name (``--model``).
        build: ``build(num_joints, **kwargs) -> nn.Module``; kwargs are a preset's, then a variant's,
            then the user's ``--model-kwargs``, later ones winning (a variant is a paper's table row,
            e.g. Table 7's encoder, which must win over the preset's size).
        variants: named constructor arguments, e.g. ``{"kmm": {"temporal": "kmm"}, ...}`` (``--variant``),
            from :func:`posemods.variants.cli_variants`.
        presets: named sizes, e.g. backbones and widths (``--preset``); every spec has ``"tiny"``
            (tests), ``"small"`` (CPU demos) and ``"paper"``.
        default_variant: the variant used when none is given.
        output: ``"clip"`` (every frame's heatmaps) or ``"key"`` (the key frame's only).
        stride: input pixels per heatmap pixel (4, or 8 for LSTMPM).
        input_multiple: what the input's H and W must be multiples of (default: ``stride``): the
            backbone's total stride, 32 for the ResNet models, VREMD's patch 16.
        extra_maps: trailing output maps that are not joints (LSTMPM's background), dropped.
        clip_length: the paper's T.
        input_size: the paper's (H, W) (every size in posemods is (H, W), torch's order).
        geometry: ``geometry(input_size, clip_length) -> kwargs`` for models built for one frame size
            and clip length (VREMD's ``img_size``, ``num_frames``); ``None`` when any size runs.
    """

    name: str
    build: Callable[..., nn.Module]
    variants: dict[str, dict]
    presets: dict[str, dict]
    default_variant: str
    output: str = "clip"
    stride: int = 4
    input_multiple: int | None = None
    extra_maps: int = 0
    clip_length: int = 5
    input_size: tuple[int, int] = (256, 256)
    geometry: Callable[[tuple[int, int], int], dict] | None = None

    def __post_init__(self) -> None:
        expect_choice("output", self.output, ("clip", "key"))
        expect_choice("default_variant", self.default_variant, tuple(self.variants))

    def key_frame(self, clip_length: int) -> int:
        """The frame a ``"key"`` model predicts: the middle one."""
        return clip_length // 2

    def heatmap_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the output for an input of ``input_size = (H, W)``."""
        h, w = expect_size("input_size", input_size)
        multiple = math.lcm(self.stride, self.input_multiple or self.stride)
        if h % multiple or w % multiple:
            raise ValueError(f"input_size: expected multiples of {multiple} for {self.name}, got {tuple(input_size)}")
        return (h // self.stride, w // self.stride)

    def create(
        self,
        num_joints: int,
        variant: str | None = None,
        preset: str = "small",
        input_size: tuple[int, int] | None = None,
        clip_length: int | None = None,
        **overrides,
    ) -> nn.Module:
        """Build the model with random weights (nothing is downloaded) for clips of ``clip_length``
        frames of ``input_size = (H, W)`` (the paper's when ``None``)."""
        variant = self.default_variant if variant is None else variant
        expect_choice("variant", variant, tuple(self.variants))
        expect_choice("preset", preset, tuple(self.presets))
        kwargs = {**self.presets[preset], **self.variants[variant]}
        if self.geometry is not None:
            size = self.input_size if input_size is None else tuple(input_size)
            kwargs.update(self.geometry(size, self.clip_length if clip_length is None else clip_length))
        return self.build(num_joints, **{**kwargs, **overrides})


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`MODELS` under ``spec.name`` (a name is registered once)."""
    if spec.name in MODELS:
        raise ValueError(f"name: a model named {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


def get_model_spec(name: str) -> ModelSpec:
    expect_choice("model", name, tuple(MODELS))
    return MODELS[name]


# The models are imported when built: posemods.training must not import timm at import time.
def _recursive(family: str) -> Callable[..., nn.Module]:
    def build(num_joints: int, **kwargs) -> nn.Module:
        from posemods.models import RecursivePoseModel

        return RecursivePoseModel.create(family, num_joints, **kwargs)

    return build


def _lstmpm(num_joints: int, **kwargs) -> nn.Module:
    from posemods.models import LSTMPM

    return LSTMPM(num_joints, **kwargs)


# Two backbones (initializer, encoder) and the encoder width C. "tiny" is for tests (seconds on a
# CPU core at 32 x 32), "small" for the CPU demos (64 x 64 to 128 x 128), "paper" for the tables.
_RECURSIVE_PRESETS = {
    "tiny": {"initializer_backbone": "resnet10t", "encoder_backbone": "resnet10t", "channels": 16},
    "small": {"initializer_backbone": "resnet10t", "encoder_backbone": "resnet10t", "channels": 64},
    "paper": {"initializer_backbone": "resnet101", "encoder_backbone": "resnet50", "channels": 256},
}

# KIMNet, RPSTN and DKD: one model, its variants read from the tables the models read (one source):
# the temporal= names and every row of KIMNet's Tables 2 and 4-7 (posemods.variants.cli_variants).
for _family in RECURSIVE_VARIANTS:
    register_model(
        ModelSpec(
            _family,
            _recursive(_family),
            variants=cli_variants(_family),
            presets=_RECURSIVE_PRESETS,
            default_variant=default_variant(_family),
            input_multiple=32,  # ResNet backbones
        )
    )
register_model(
    ModelSpec(
        "lstmpm",
        _lstmpm,
        variants=cli_variants("lstmpm"),
        # LSTMPM's CPM trunk has no backbone choice; only the ConvLSTM width changes.
        presets={"tiny": {"hidden_channels": 8}, "small": {"hidden_channels": 24}, "paper": {}},
        default_variant="original",
        stride=8,
        extra_maps=1,
        input_size=(368, 368),
    )
)


def _vremd(num_joints: int, **kwargs) -> nn.Module:
    from posemods.models import VREMD

    return VREMD(num_joints, **kwargs)


# Tables 4-6's rows, read from posemods.variants, the one source posemods.models.VREMD_TABLE4/5/6
# also re-export (a module without imports, so the CLI does not import timm to list them): Table 4's
# bare names and table4:/table5:/table6: rows (--variant table6:da). The backbone trains here (the
# paper freezes a pretrained ViT-L; nothing is pretrained on synthetic data); "paper" keeps the paper's frozen
# ViT-L for a user's --model-kwargs '{"backbone_checkpoint": ...}'.
register_model(
    ModelSpec(
        "vremd",
        _vremd,
        variants=cli_variants("vremd"),
        presets={
            "tiny": {"backbone": "micro", "freeze_backbone": False, "head_channels": 16},
            "small": {"backbone": "tiny", "freeze_backbone": False, "head_channels": 64},
            "paper": {"backbone": "large"},
        },
        default_variant="hkm+bmd",
        output="key",
        input_multiple=16,
        clip_length=3,
        input_size=(256, 192),
        # A ViT is built for one crop size (H, W) and VREMD for one odd T; patch 16 gives stride 4.
        geometry=lambda size, frames: {"img_size": tuple(size), "num_frames": frames},
    )
)

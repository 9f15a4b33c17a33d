"""The model registry: every reference model by name, with its default configuration as data.

Each model is registered next to its class, timm's ``@register_model`` habit::

    @register_model("kimnet", variants=..., presets=..., num_joints=13, input_size=(256, 256), ...)
    class KIMNet(RecursivePoseModel): ...

so adding a model is one new file, its import in ``posemods/models/__init__.py`` and one decorator.
:func:`create_model` and :func:`list_models` are the public face (also ``posemods.create_model`` and
``posemods.list_models``); the train and evaluate CLIs build their models through the same entries.
Importing this module imports ``posemods.models`` (the package runs first), so every registration
has run before a name is looked up.

Shapes use the vocabulary of :mod:`posemods._shapes`: ``"clip"`` models map
``video (B, T, 3, H, W) -> heatmaps (B, T, J, H / s, W / s)`` (KIMNet, RPSTN, DKD, LSTMPM), ``"key"``
models map it to the key frame's ``heatmaps (B, J, H / s, W / s)`` (VREMD), the key frame at ``T // 2``.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
from collections.abc import Callable, Mapping

from torch import nn

from posemods._shapes import expect_choice, expect_positive, expect_size

#: Constructor arguments that name a weights file (``checkpoint``, ``encoder_checkpoint``, ...): where a
#: model's first weights came from, not what it is, so :attr:`model_config` leaves them out (a saved
#: model's weights replace them, and the file need not exist where the model is loaded again).
WEIGHT_FILE_SUFFIX = "checkpoint"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One registered model: how to build it and its default configuration, as data.

    Attributes:
        name: the registry name (``create_model(name)``, the CLIs' ``--model``).
        build: ``build(num_joints, **kwargs) -> nn.Module``: the registered class.
        variants: ``--variant`` name -> constructor arguments: the ``temporal=`` values, VREMD's
            flags and one ``tableN:row`` per row of the papers' tables (from :mod:`posemods.variants`).
        default_variant: the variant built when none is given.
        presets: named sizes -> constructor arguments (backbones, widths): ``"tiny"`` (tests),
            ``"small"`` (CPU demos) and ``"paper"``. A variant's arguments win over a preset's (a
            paper row such as Table 7's encoder), and the caller's over both.
        default_preset: the preset built when none is given: the paper's.
        num_joints: the paper's J (13: Penn Action; 17: PoseTrack).
        input_size: the paper's frame size (H, W) (every size in posemods is (H, W), torch's order).
        clip_length: the paper's T.
        mean, std: the RGB statistics the model normalises its [0, 1] frames with, inside the model
            (its first layer; see :class:`~posemods.models.normalize.ImageNormalize`), so callers
            feed [0, 1] RGB and do no normalisation of their own.
        stride: input pixels per heatmap pixel (4, or 8 for LSTMPM).
        input_multiple: what H and W must be multiples of besides the stride: the backbone's total
            stride, 32 for the ResNet models, VREMD's patch 16 (see :attr:`size_multiple`).
        output: ``"clip"`` (every frame's heatmaps) or ``"key"`` (the key frame's only).
        extra_maps: trailing output maps that are not joints (LSTMPM's background).
        geometry: ``geometry(input_size, clip_length) -> kwargs`` for a model built for one frame
            size and clip length (VREMD's ``img_size``, ``num_frames``); ``None`` when any size runs.
    """

    name: str
    build: Callable[..., nn.Module]
    variants: Mapping[str, dict]
    default_variant: str
    presets: Mapping[str, dict]
    default_preset: str = "paper"
    num_joints: int
    input_size: tuple[int, int]
    clip_length: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    stride: int = 4
    input_multiple: int | None = None
    output: str = "clip"
    extra_maps: int = 0
    geometry: Callable[[tuple[int, int], int], dict] | None = None

    def __post_init__(self) -> None:
        expect_choice("output", self.output, ("clip", "key"))
        expect_choice("default_variant", self.default_variant, tuple(self.variants))
        expect_choice("default_preset", self.default_preset, tuple(self.presets))
        expect_positive("num_joints", self.num_joints)
        expect_positive("clip_length", self.clip_length)
        object.__setattr__(self, "input_size", expect_size("input_size", self.input_size))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"mean, std: expected 3 values each (RGB), got {self.mean!r} and {self.std!r}")
        # The paper's own size must follow the model's rule.
        self.heatmap_size(self.input_size)

    @property
    def size_multiple(self) -> int:
        """What the input's H and W must be multiples of: the stride and the backbone's reduction."""
        return math.lcm(self.stride, self.input_multiple or self.stride)

    def key_frame(self, clip_length: int) -> int:
        """The frame a ``"key"`` model predicts: the middle one."""
        return clip_length // 2

    def heatmap_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the output for an input of ``input_size = (H, W)``; a ``ValueError`` unless H and W
        are multiples of :attr:`size_multiple`."""
        h, w = expect_size("input_size", input_size)
        multiple = self.size_multiple
        if h % multiple or w % multiple:
            raise ValueError(f"input_size: expected multiples of {multiple} for {self.name}, got {tuple(input_size)}")
        return (h // self.stride, w // self.stride)

    def create(
        self,
        num_joints: int | None = None,
        variant: str | None = None,
        preset: str | None = None,
        input_size: tuple[int, int] | None = None,
        clip_length: int | None = None,
        **kwargs,
    ) -> nn.Module:
        """Build the model with random weights (nothing is downloaded); what is not given is the
        default configuration's (the paper's J, size, T, the default variant and the paper preset).

        ``input_size`` is checked against the model's rule (e.g. multiples of 32) and, with
        ``clip_length``, sizes a model built for one geometry (VREMD). ``kwargs`` go to the
        constructor, over the preset's and the variant's arguments. The model's :attr:`model_config`
        holds the arguments that build it again: ``create_model(**model.model_config)``.
        """
        variant = self.default_variant if variant is None else variant
        preset = self.default_preset if preset is None else preset
        expect_choice("variant", variant, tuple(self.variants))
        expect_choice("preset", preset, tuple(self.presets))
        num_joints = self.num_joints if num_joints is None else expect_positive("num_joints", num_joints)
        size = self.input_size if input_size is None else expect_size("input_size", input_size)
        self.heatmap_size(size)
        frames = self.clip_length if clip_length is None else expect_positive("clip_length", clip_length)
        arguments = {**self.presets[preset], **self.variants[variant]}
        if self.geometry is not None:
            arguments.update(self.geometry(size, frames))
        model = self.build(num_joints, **{**arguments, **kwargs})
        model.model_config = {
            "name": self.name, "num_joints": num_joints, "variant": variant, "preset": preset,
            "input_size": size, "clip_length": frames,
            **{k: v for k, v in kwargs.items() if not k.endswith(WEIGHT_FILE_SUFFIX)},
        }  # fmt: skip
        return model


#: name -> spec, in registration order; filled by :func:`register_model`.
MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, **config) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: register the class under ``name`` with the :class:`ModelSpec` fields ``config``.

    The class is the spec's ``build``: it must take ``num_joints`` first and every preset's and
    variant's arguments as keywords. A name is registered once (a ``ValueError`` otherwise).
    """

    def register(cls: type[nn.Module]) -> type[nn.Module]:
        add_model(ModelSpec(name=name, build=cls, **config))
        return cls

    return register


def add_model(spec: ModelSpec) -> ModelSpec:
    """Add a :class:`ModelSpec` built by hand (e.g. a test's model); :func:`register_model` calls it."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"spec: expected a ModelSpec, got {type(spec).__name__}")
    if spec.name in MODELS:
        raise ValueError(f"name: a model named {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


def get_model_spec(name: str) -> ModelSpec:
    """The registered spec of ``name``; a ``ValueError`` naming the close matches otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a model name (str), got {type(name).__name__}")
    if name not in MODELS:
        close = difflib.get_close_matches(name, list(MODELS), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"name: no model named {name!r}{hint} (registered: {', '.join(list_models())}; see posemods.list_models())"
        )
    return MODELS[name]


def list_models(pattern: str = "*") -> list[str]:
    """The registered names matching the shell-style ``pattern`` (``fnmatch``: ``"*"``, ``"*stn"``,
    ``"[kv]*"``), sorted."""
    if not isinstance(pattern, str):
        raise TypeError(f"pattern: expected a shell-style pattern (str), got {type(pattern).__name__}")
    return sorted(fnmatch.filter(MODELS, pattern))


def create_model(
    name: str,
    num_joints: int | None = None,
    variant: str | None = None,
    preset: str | None = None,
    input_size: tuple[int, int] | None = None,
    clip_length: int | None = None,
    **kwargs,
) -> nn.Module:
    """Build the registered model ``name`` with random weights; nothing is downloaded.

    >>> model = create_model("kimnet", preset="tiny", input_size=(64, 64), variant="table4:baseline")

    Args:
        name: a name of :func:`list_models`.
        num_joints: J (default: the paper's dataset's).
        variant: a ``--variant`` name, e.g. ``"kmm"`` or a paper row ``"table6:kimnet-8"``.
        preset: ``"tiny"``, ``"small"`` or ``"paper"`` (the default).
        input_size: (H, W) of the frames the model will see, checked against its rule (e.g.
            multiples of 32); it sizes VREMD's ViT (default: the paper's).
        clip_length: T, for a model built for one clip length (VREMD; default: the paper's).
        **kwargs: constructor arguments of the model's class, over the preset's and the variant's
            (``backend="reference"``, ``channels=32``, ``checkpoint="weights.pt"`` ...).

    The model's ``model_config`` holds the arguments that build it again (what checkpoints store).
    """
    return get_model_spec(name).create(num_joints, variant, preset, input_size, clip_length, **kwargs)

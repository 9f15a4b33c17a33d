"""The dataset registry: every dataset the CLIs and :func:`create_dataset` can build, by name.

Each reader registers itself at the end of its own file with one :func:`register_dataset` call, so
everything a run needs to know about a dataset stands next to the code that reads it: how to build its
training and evaluation sets, its joint layout (:mod:`posemods.skeletons`), its evaluation protocol,
its split rule, the settings it takes and its defaults. ``posemods/data/__init__.py`` imports every
reader, so importing :mod:`posemods.data` registers them all (as timm's ``models/__init__.py`` does).

The protocol is a name that :mod:`posemods.metrics.protocol` resolves (``PROTOCOLS``), not an
object: :mod:`posemods.metrics` already imports :mod:`posemods.data` (its decoder maps heatmaps back
through the crop's affine), so data naming metrics by import would close a loop. The training layer,
which imports both, joins the two.

Public: :func:`list_datasets`, :func:`get_dataset_spec`, :func:`create_dataset`, :func:`register_dataset`,
:class:`DatasetSpec`, :class:`DatasetOptions` (the same verbs as ``create_model`` / ``list_models``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posemods._shapes import expect_choice, expect_size
from posemods.skeletons import Skeleton, get_skeleton

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from posemods.data.transforms import Augmentation


@dataclasses.dataclass(frozen=True)
class DatasetOptions:
    """What a run asks of a dataset. Every builder gets all of it and reads what it needs.

    The names are :class:`~posemods.training.TrainConfig`'s, so a run passes its fields as they are.

    Attributes:
        data_root: the folder the reader reads (``None`` for data made on the fly); a ``Path``.
        annotations: a second folder, for datasets that keep their labels apart (PoseTrack's JSON files).
        split: a numbered split, already checked by :meth:`DatasetSpec.check_split` (``None``: the
            dataset has fixed training and evaluation sets).
        clip_length: T, frames per clip.
        input_size: (H, W) of the frames (the crop, for real datasets).
        heatmap_size: (h, w) of the targets; :func:`create_dataset` turns ``None`` into a quarter of
            ``input_size`` (the stride of most heads).
        sigma: Gaussian sigma of the heatmap targets, in heatmap pixels.
        seed: seeds the augmentation, or the clips of data made on the fly.
        augmentation: training sets' :class:`~posemods.data.Augmentation` (``None``: its defaults).
        every_frame_as_key: evaluation sets of key-frame models: one clip keyed on every frame
            (:class:`~posemods.data.VideoPoseDataset`).
        extra: the dataset's own settings (:attr:`DatasetSpec.options`), every one filled in.
    """

    data_root: Path | None = None
    annotations: Path | None = None
    split: str | None = None
    clip_length: int = 5
    input_size: tuple[int, int] = (256, 256)
    heatmap_size: tuple[int, int] | None = None
    sigma: float = 2.0
    seed: int = 0
    augmentation: Augmentation | None = None
    every_frame_as_key: bool = False
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def video_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :class:`~posemods.data.VideoPoseDataset` these options set."""
        return {
            "clip_length": self.clip_length,
            "input_size": self.input_size,
            "heatmap_size": self.heatmap_size,
            "sigma": self.sigma,
            "seed": self.seed,
            "augmentation": self.augmentation,  # training sets use it; evaluation sets ignore it
            "every_frame_as_key": self.every_frame_as_key,
        }


#: Option names every dataset takes (the fields of :class:`DatasetOptions` but ``extra``).
SHARED_OPTIONS = tuple(f.name for f in dataclasses.fields(DatasetOptions) if f.name != "extra")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset: how to build it and what a run needs to know about it.

    Attributes:
        name: the registry name (``--data``).
        build: ``build(options: DatasetOptions, train: bool) -> Dataset``: the training set
            (``train=True``, augmented) or the evaluation set (every frame scored once), as clips
            following :mod:`posemods.data.clip`'s contract.
        layout: the joint layout, a :mod:`posemods.skeletons` name or a :class:`~posemods.skeletons.Skeleton`.
        protocol: the evaluation protocol's name in :data:`posemods.metrics.protocol.PROTOCOLS`,
            which says which reference evaluator the numbers follow.
        description: one line for ``--help``: what the dataset is.
        split_rule: in words, how the training and evaluation sets are chosen (for ``--help`` and errors).
        splits: the numbered splits ``--split`` may name, the first being the default; empty when the
            training and evaluation sets are fixed.
        requires: the :class:`DatasetOptions` that must be given, each with what it should name,
            e.g. ``{"data_root": "the Penn Action folder with labels/ and frames/"}``.
        defaults: values of :class:`DatasetOptions` fields that :func:`create_dataset` uses when its
            caller gives none (a run always gives its own, so these never change a run).
        options: settings of this dataset alone, with their defaults; a run fills each from the
            :class:`~posemods.training.TrainConfig` field of the same name when there is one.
    """

    name: str
    build: Callable[[DatasetOptions, bool], Dataset]
    layout: str | Skeleton
    protocol: str
    description: str
    split_rule: str
    splits: tuple[str, ...] = ()
    requires: Mapping[str, str] = dataclasses.field(default_factory=dict)
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        if not callable(self.build):
            raise TypeError(f"build: expected a callable build(options, train) -> Dataset, got {self.build!r}")
        get_skeleton(self.layout)  # a layout that does not exist fails at registration, not mid-run
        for field in ("requires", "defaults"):
            unknown = set(getattr(self, field)) - set(SHARED_OPTIONS)
            if unknown:
                raise ValueError(f"{field}: {sorted(unknown)} are not options of every dataset {SHARED_OPTIONS}")
        shadowed = set(self.options) & set(SHARED_OPTIONS)
        if shadowed:
            raise ValueError(f"options: {sorted(shadowed)} are options of every dataset already")
        if not all(isinstance(s, str) for s in self.splits):
            raise TypeError(f"splits: expected strings (what --split gives), got {self.splits!r}")

    @property
    def skeleton(self) -> Skeleton:
        return get_skeleton(self.layout)

    @property
    def default_split(self) -> str | None:
        return self.splits[0] if self.splits else None

    def check_split(self, split: str | int | None) -> str | None:
        """The split to read: ``split`` as a string, or the default one; a ``ValueError`` naming the
        choices for a split this dataset does not have. The one statement of every split rule."""
        if split is None:
            return self.default_split
        if not self.splits:
            others = [n for n in list_datasets() if DATASETS[n].splits]
            have = f"only {', '.join(others)} {'has' if len(others) == 1 else 'have'} them" if others else "none has"
            raise ValueError(
                f"split: {self.name} has no numbered splits (it uses {self.split_rule}); {have}, got split {split!r}"
            )
        if str(split) not in self.splits:
            raise ValueError(f"split: expected one of {self.name}'s splits {self.splits}, got {split!r}")
        return str(split)

    def check_required(self, **given) -> None:
        """A ``ValueError`` naming the first required option that ``given`` leaves ``None``."""
        for option, what in self.requires.items():
            if given.get(option) is None:
                raise ValueError(f"{option}: expected {what} for data {self.name!r}, got None")


#: Every registered dataset by name; :func:`register_dataset` adds to it.
DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` under ``spec.name`` (a name is registered once) and return it."""
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"spec: expected a DatasetSpec, got {type(spec).__name__}")
    if spec.name in DATASETS:
        raise ValueError(f"name: a dataset named {spec.name!r} is already registered")
    DATASETS[spec.name] = spec
    return spec


def list_datasets(pattern: str = "*") -> tuple[str, ...]:
    """The registered names matching the shell-style ``pattern``, sorted: e.g. ``list_datasets("p*")``."""
    return tuple(sorted(name for name in DATASETS if fnmatch.fnmatchcase(name, pattern)))


def get_dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` registered as ``name``; a ``ValueError`` naming the choices otherwise."""
    expect_choice("name", name, list_datasets())
    return DATASETS[name]


def create_dataset(name: str, train: bool = False, **options) -> Dataset:
    """Build dataset ``name``'s training set (``train=True``) or evaluation set.

    ``options`` are :class:`DatasetOptions` fields and the dataset's own :attr:`DatasetSpec.options`;
    what is not given comes from the spec's defaults, then :class:`DatasetOptions`'. E.g.
    ``create_dataset("jhmdb", data_root="/data/JHMDB", split="2", input_size=(256, 256))``.
    """
    spec = get_dataset_spec(name)
    unknown = set(options) - set(SHARED_OPTIONS) - set(spec.options)
    if unknown:
        raise TypeError(f"options: {name} takes no {sorted(unknown)}; it takes {SHARED_OPTIONS + tuple(spec.options)}")
    shared = {**spec.defaults, **{k: v for k, v in options.items() if k in SHARED_OPTIONS}}
    spec.check_required(**shared)
    shared["split"] = spec.check_split(shared.get("split"))
    for folder in ("data_root", "annotations"):  # readers get paths, whatever the caller passed
        if shared.get(folder) is not None:
            shared[folder] = Path(shared[folder])
    if shared.get("heatmap_size") is None:
        height, width = expect_size("input_size", shared.get("input_size", DatasetOptions.input_size))
        shared["heatmap_size"] = (height // 4, width // 4)
    extra = {**spec.options, **{k: v for k, v in options.items() if k in spec.options}}
    dataset = spec.build(DatasetOptions(**shared, extra=extra), bool(train))
    skeleton = getattr(dataset, "skeleton", None)
    if skeleton is not None and skeleton != spec.skeleton:
        # The layout's joint order is what the heatmap channels and the metric's table mean.
        raise ValueError(f"{name}: the registered layout is {spec.skeleton.name}, but build gave {skeleton.name}")
    return dataset

"""A training run's settings: one dataclass, saved in every checkpoint, filled from the command line.

``python -m posemods.train --help`` lists every field; :func:`add_arguments` is the one place that
maps fields to flags, so the train and evaluate CLIs cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys

from posemods._shapes import expect_choice, expect_positive, expect_size
from posemods.training.recipes import LR_SCHEDULES, OPTIMIZERS, RECIPES

NORMALIZERS = ("person", "torso")
DEVICES = ("auto", "cpu", "cuda")


def pipelines() -> tuple[str, ...]:
    """How Penn Action's clips are sampled, cropped, augmented and targeted: posemods' own, or the RPSTN
    authors' pipeline (posemods.data.rpstn), which KIMNet says it follows. Read from the reader's table,
    which each pipeline joins beside its code."""
    from posemods.data.penn_action import PENN_PIPELINES

    return tuple(PENN_PIPELINES)


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run. Sizes are (H, W), torch's order; ``batch_size`` is global (all processes).

    The same config gives the same training on 1 or N processes: each of the N processes takes
    ``batch_size / N`` clips of every step, and ``accumulate`` splits a process's share further
    into micro-batches (DDP on N processes equals one process with ``accumulate=N``, see the docs
    of :func:`posemods.training.loop.train_step`).
    """

    # The model.
    model: str = "kimnet"
    variant: str | None = None
    preset: str = "small"
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    # The data.
    data: str = "synthetic"  # a name of posemods.data.list_datasets()
    data_root: str | None = None
    annotations: str | None = None  # PoseTrack: the folder of per-video JSON files
    split: str | None = None  # a numbered split, for datasets that have them (jhmdb's "1", "2", "3")
    clip_length: int = 5
    input_size: tuple[int, int] = (128, 128)  # (H, W)
    sigma: float = 2.0
    train_clips: int = 2000  # synthetic only
    eval_clips: int = 200  # synthetic only
    occluders: int = 2
    occluder_size: int = 20
    distractors: int = 0
    motion_blur: float = 0.0
    half_body_prob: float = 0.3  # real datasets: chance of a half-body training crop
    pipeline: str = "posemods"  # "rpstn": the RPSTN authors' Penn Action clips, crop, augmentation, targets
    # The optimisation.
    epochs: int = 5
    batch_size: int = 8
    accumulate: int = 1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    optimizer: str = "adamw"
    lr_schedule: str = "cosine"
    lr_steps: list = dataclasses.field(default_factory=list)  # epochs after which "step" divides lr by 10
    recipe: str | None = None  # the --recipe the run started from (a record; the fields hold its values)
    grad_clip: float = 5.0
    seed: int = 0
    max_steps: int | None = None  # stop (and save) after this many optimizer steps in total
    # Evaluation.
    alpha: float = 0.2
    normalize: str = "person"
    evaluate_every_epoch: bool = True
    # Running.
    out: str = "runs/posemods"
    resume: str | None = None  # a checkpoint path, or "auto": out/last.pt when it exists
    save_every: int = 0  # also checkpoint every this many steps (0: at epoch ends only)
    workers: int = 0
    threads: int | None = None
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        self.input_size = expect_size("input_size", self.input_size)
        from posemods.data.registry import get_dataset_spec, list_datasets

        expect_choice("data", self.data, list_datasets())
        expect_choice("normalize", self.normalize, NORMALIZERS)
        expect_choice("device", self.device, DEVICES)
        expect_choice("optimizer", self.optimizer, OPTIMIZERS)
        expect_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        expect_choice("pipeline", self.pipeline, pipelines())
        # Synthetic clips are made whole, with nothing to sample or crop: the recipe's pipeline may stay
        # set when a kimnet-penn run is tried on them. The other readers have no RPSTN pipeline.
        if self.pipeline == "rpstn" and self.data not in ("penn_action", "synthetic"):
            raise ValueError(
                f"pipeline: 'rpstn' is the RPSTN authors' Penn Action pipeline, got data {self.data!r} "
                "(use --pipeline posemods)"
            )
        self.lr_steps = [int(e) for e in self.lr_steps]
        if not 0.0 <= self.half_body_prob <= 1.0:  # also refuses NaN
            raise ValueError(f"half_body_prob: expected a probability in [0, 1], got {self.half_body_prob!r}")
        for name in ("clip_length", "epochs", "batch_size", "accumulate", "train_clips", "eval_clips"):
            expect_positive(name, getattr(self, name))
        # sigma 0 renders all-zero targets and training runs on, learning nothing; refuse it here, before
        # any data is read, so the CLI fails at once (the same check as the data's).
        from posemods.data.heatmaps import expect_sigma

        expect_sigma(self.sigma)
        # The metric's own check, at the CLI: a NaN or negative --alpha would otherwise score silently.
        from posemods.metrics import check_alpha

        check_alpha(self.alpha)
        # The dataset's own rules (posemods.data.registry), checked before any file is read. The split
        # is kept as given (None stays None), so a saved config reads back unchanged.
        dataset = get_dataset_spec(self.data)
        dataset.check_split(self.split)
        dataset.check_required(data_root=self.data_root, annotations=self.annotations)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["input_size"] = list(self.input_size)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from :meth:`to_dict`'s output; unknown keys (a newer version's) are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"config: unknown fields {sorted(unknown)}")
        return cls(**values)


# Flags with their help; the defaults come from the dataclass, the dataset flags' help from _dataset_help().
_HELP = {
    "model": "registered model (posemods.list_models())",
    "variant": "the model's variant",
    "preset": "model size",
    "model_kwargs": "JSON of extra constructor arguments, e.g. '{\"channels\": 32}'",
    "clip_length": "T, frames per clip",
    "input_size": "H W of the frames (the crop, for real datasets)",
    "sigma": "Gaussian sigma of the heatmap targets, in heatmap pixels",
    "train_clips": "synthetic training clips per epoch",
    "eval_clips": "synthetic evaluation clips",
    "occluders": "synthetic occluder boxes per clip",
    "occluder_size": "synthetic occluder side in pixels",
    "distractors": "synthetic distractor people per clip (at most)",
    "motion_blur": "synthetic largest shutter time in frame intervals (0: off)",
    "half_body_prob": "datasets: probability of a half-body training crop (VREMD's truncation; 0 for KIMNet's recipe)",
    "pipeline": "posemods | rpstn: the RPSTN authors' Penn Action clips, crop, augmentation and targets "
    "(posemods.data.rpstn; the kimnet-penn recipe's; synthetic clips are made whole either way)",
    "epochs": "epochs",
    "batch_size": "clips per optimizer step, over all processes",
    "accumulate": "micro-batches per process and step (gradient accumulation)",
    "lr": "peak learning rate (AdamW)",
    "weight_decay": "AdamW weight decay",
    "warmup_steps": "linear warm-up steps before the cosine decay",
    "optimizer": "adamw | adam",
    "lr_schedule": "cosine (after the warm-up) | constant | step (divide by 10 after each --lr-steps epoch)",
    "lr_steps": "epochs after which the step schedule divides the learning rate by 10",
    "recipe": "a paper's recipe, e.g. kimnet-penn (see --help's epilog); other flags override it",
    "grad_clip": "clip the gradient norm to this (0: off)",
    "seed": "seed of the weights, the data order and the synthetic data",
    "max_steps": "stop and save after this many steps in total (the schedule still spans all epochs)",
    "alpha": "PCK threshold",
    "normalize": "PCK normaliser: person (max bbox side) or torso",
    "evaluate_every_epoch": "score the evaluation set after every epoch",
    "out": "folder for checkpoints (last.pt) and metrics.jsonl",
    "resume": "checkpoint to resume from, or 'auto' for OUT/last.pt if it exists",
    "save_every": "also checkpoint every N steps (0: at epoch ends only)",
    "workers": "DataLoader worker processes",
    "threads": "torch intra-op threads per process (default: torch's choice)",
    "device": "auto: CUDA when available",
    "progress": "tqdm progress bars",
}


def _dataset_help() -> dict[str, str]:
    """The help of the dataset flags, written from the registry, so a registered dataset shows in ``--help``."""
    from posemods.data.registry import get_dataset_spec, list_datasets

    specs = [get_dataset_spec(name) for name in list_datasets()]

    def needs(option: str) -> str:
        return "; ".join(f"{s.name}: {s.requires[option]}" for s in specs if option in s.requires)

    numbered = "; ".join(f"{s.name}: {' | '.join(s.splits)}, default {s.default_split}" for s in specs if s.splits)
    fixed = "; ".join(f"{s.name}: {s.split_rule}" for s in specs if not s.splits)
    return {
        "data": "the dataset (" + "; ".join(f"{s.name}: {s.description}" for s in specs) + ")",
        "data_root": f"the dataset's folder ({needs('data_root')})",
        "annotations": f"the labels' folder, for datasets that keep them apart ({needs('annotations')})",
        "split": f"a numbered split ({numbered}); the other datasets' sets are fixed ({fixed})",
    }


def add_arguments(
    parser: argparse.ArgumentParser, fields: tuple[str, ...] | None = None, overrides_only: bool = False
) -> None:
    """Add a ``--flag`` for each config field (or the listed ones), defaulting to the dataclass's.

    With ``overrides_only`` a flag not given is left out of the parsed namespace altogether. Every
    enumeration is an argparse ``choices``, so a wrong value exits with status 2 and the usage line;
    :func:`check_arguments` adds the checks that span two flags (a variant of another model).
    """
    from posemods.data.registry import list_datasets
    from posemods.models import MODELS

    choices = {
        "model": tuple(MODELS),
        "variant": _union(spec.variants for spec in MODELS.values()),
        "preset": _union(spec.presets for spec in MODELS.values()),
        "data": list_datasets(),
        "normalize": NORMALIZERS,
        "device": DEVICES,
        "optimizer": OPTIMIZERS,
        "lr_schedule": LR_SCHEDULES,
        "recipe": tuple(RECIPES),
        "pipeline": pipelines(),
    }
    defaults = TrainConfig()
    helps = {**_HELP, **_dataset_help()}
    for field in dataclasses.fields(TrainConfig):
        if fields is not None and field.name not in fields:
            continue
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        kwargs: dict = {"default": default, "help": helps[field.name], "dest": field.name}
        if field.name == "variant":
            per_model = "; ".join(
                f"{name}: " + " | ".join(v + "*" * (v == spec.default_variant) for v in spec.variants)
                for name, spec in MODELS.items()
            )
            kwargs["help"] = f"the model's variant ({per_model}; *: the default)"
            kwargs["metavar"] = "VARIANT"  # the choices are many: the usage line names the flag, --help lists them
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif field.name == "input_size":
            kwargs.update(nargs=2, type=int, metavar=("H", "W"))
        elif field.name == "model_kwargs":
            kwargs["type"] = json.loads
        elif field.name == "lr_steps":
            kwargs.update(nargs="*", type=int, metavar="EPOCH")
        elif field.name in ("variant", "data_root", "annotations", "split", "resume", "recipe"):
            kwargs["type"] = str
        elif field.name in ("max_steps", "threads"):
            kwargs["type"] = int
        else:
            kwargs["type"] = type(default)
        if field.name in choices:
            kwargs["choices"] = choices[field.name]
        if overrides_only:
            kwargs["default"] = argparse.SUPPRESS
        parser.add_argument(flag, **kwargs)


def _union(names) -> tuple[str, ...]:
    """Every name of several dicts, in first-seen order."""
    return tuple(dict.fromkeys(name for group in names for name in group))


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``parser.error`` (exit 2 with the usage line) for flags valid alone but not together, and for
    numbers no run can use: ``--sigma`` 0 (all-zero targets), a NaN or negative ``--alpha``, a
    ``--split`` the dataset does not have."""
    from posemods.data.heatmaps import expect_sigma
    from posemods.data.registry import get_dataset_spec, list_datasets
    from posemods.metrics import check_alpha
    from posemods.models import MODELS

    for name, check in (("sigma", expect_sigma), ("alpha", check_alpha)):
        if getattr(args, name, None) is not None:
            try:
                check(getattr(args, name))
            except (TypeError, ValueError) as error:
                parser.error(f"argument --{name}: {error}")
    resume = getattr(args, "resume", None)
    if resume not in (None, "auto") and not os.path.isfile(resume):
        parser.error(f"argument --resume: no such file {resume!r}")
    split, data = getattr(args, "split", None), getattr(args, "data", None)
    if split is not None and data is not None:
        try:
            get_dataset_spec(data).check_split(split)
        except ValueError as error:
            parser.error(f"argument --split: {error}")
    elif split is not None:
        # No --data (evaluate: the checkpoint's dataset): a split of any dataset passes here, and the
        # config rebuilt from the checkpoint checks it against that dataset.
        splits = {name: get_dataset_spec(name).splits for name in list_datasets()}
        if not any(split in named for named in splits.values()):
            known = "; ".join(f"{name}: {', '.join(named)}" for name, named in splits.items() if named)
            parser.error(f"argument --split: expected a split of a dataset ({known}), got {split!r}")
    model = getattr(args, "model", None)
    if model not in MODELS:
        return
    spec = MODELS[model]
    variant = getattr(args, "variant", None)
    if variant is not None and variant not in spec.variants:
        parser.error(
            f"argument --variant: {variant!r} is not a variant of {model} (choose from {', '.join(spec.variants)})"
        )
    preset = getattr(args, "preset", None)
    if preset is not None and preset not in spec.presets:
        parser.error(
            f"argument --preset: {preset!r} is not a preset of {model} (choose from {', '.join(spec.presets)})"
        )


class _CLIFormatter(logging.Formatter):
    """INFO lines as they are; other levels prefixed, e.g. ``warning: ...``."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno == logging.INFO else f"{record.levelname.lower()}: {message}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest and notebooks replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging(level: int = logging.INFO) -> None:
    """What the CLIs call first: ``posemods`` loggers print INFO and above to stderr, plainly.

    The library itself configures no handler (it stays silent unless its caller asks); a handler the
    caller already gave the ``posemods`` logger is kept.
    """
    root = logging.getLogger("posemods")
    root.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):  # one, however often main() runs
        handler = _StderrHandler()
        handler.setFormatter(_CLIFormatter("%(message)s"))
        root.addHandler(handler)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})

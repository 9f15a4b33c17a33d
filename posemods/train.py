"""Train a pose model on synthetic clips or a dataset folder: python -m posemods.train [options].

Synthetic data by default, so it runs anywhere::

    python -m posemods.train --model kimnet --variant kmm --epochs 3 --out runs/kimnet

A dataset you have: ``--data penn_action --data-root /data/PennAction``. Several processes:
``torchrun --nproc_per_node=N -m posemods.train ...`` (DDP; NCCL on GPUs, gloo on CPUs), with the
same global ``--batch-size``. ``--out RUN --resume auto`` continues from ``RUN/last.pt`` exactly, with
the settings saved in it (flags given override them, but not the model or its data). Installed,
``posemods-train`` is the same command. The papers' settings: ``--recipe kimnet-penn | kimnet-jhmdb |
vremd-posetrack`` (see ``--help``). A failure ends with one ``error:`` line (``--debug``: the traceback).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from posemods._cli import UsageError, add_debug_flag, check_writable_folder, run
from posemods.models import get_model_spec
from posemods.training.checkpoint import describe_model, read_checkpoint
from posemods.training.config import (
    RUN_DEFINING,
    RUN_ONLY,
    TrainConfig,
    add_arguments,
    check_arguments,
    check_machine,
    config_from_args,
    setup_logging,
)
from posemods.training.fit import fit
from posemods.training.recipes import RECIPES, recipe_config


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _recipes_epilog() -> str:
    lines = ["recipes (--recipe NAME; flags given with it override its values):"]
    for name, values in RECIPES.items():
        lines.append(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    lines.append(
        "--resume: the run's saved settings come back with it (model, variant, preset, input size, data, "
        "recipe, schedule, ...); flags given override them, but not the model or its data"
    )
    return "\n".join(lines)


def build_parser(prog: str = "python -m posemods.train") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.splitlines()[0],
        formatter_class=_Formatter,
        epilog=_recipes_epilog(),
    )
    add_arguments(parser)
    add_debug_flag(parser)
    return parser


def resumed_settings(saved: dict, requested: dict[str, tuple[object, str]], checkpoint: str) -> dict:
    """The settings of a resumed run: the checkpoint's ``saved`` config, with ``requested`` over it.

    ``requested`` maps a field to ``(value, where it came from)``: ``(0.01, "--lr")`` for a flag typed,
    ``("kimnet", "--recipe kimnet-penn")`` for a recipe's value. The run-only fields (``RUN_ONLY``:
    device, threads, max_steps, ...) come from ``requested`` or the defaults, and ``out`` defaults to
    the checkpoint's folder. A requested value that would change the model or its data
    (``RUN_DEFINING``, and the frame size and clip length of a model built for one geometry, VREMD's)
    raises :class:`~posemods._cli.UsageError` naming its flag; any other one overrides the saved value.
    """
    spec = get_model_spec(saved["model"])
    fixed = RUN_DEFINING + (("input_size", "clip_length") if spec.geometry is not None else ())

    def same(field: str, value) -> bool:
        if field == "variant":
            return (value or spec.default_variant) == (saved.get("variant") or spec.default_variant)
        if field == "input_size":
            return tuple(value) == tuple(saved.get(field) or ())
        return value == saved.get(field)

    defaults = TrainConfig().to_dict()
    settings = {k: v for k, v in saved.items() if k not in RUN_ONLY}
    settings.update({k: defaults[k] for k in RUN_ONLY})
    settings["out"] = os.path.dirname(os.fspath(checkpoint)) or "."
    for field, (value, source) in requested.items():
        if field in fixed and not same(field, value):
            shown = tuple(value) if isinstance(value, list) else value
            flag, _, recipe = source.partition(" ")
            head = f"{recipe}'s {field} {shown!r}" if recipe else repr(shown)
            raise UsageError(
                flag,
                f"{head} conflicts with {checkpoint}, a run of {describe_model(saved)}: resuming keeps its {field}; "
                f"leave {flag} out to resume that run, or give another --out to train a new one",
            )
        settings[field] = value
    return settings


def _given(argv: list[str] | None) -> dict:
    """The flags the user typed, parsed, without any default."""
    explicit = argparse.ArgumentParser(add_help=False)
    add_arguments(explicit, overrides_only=True)
    return vars(explicit.parse_known_args(argv)[0])


def _checkpoint_to_resume(parser: argparse.ArgumentParser, resume: str | None, out: str) -> str | None:
    """The file ``--resume`` names: its path, ``OUT/last.pt`` for ``auto`` when it exists, else None."""
    if resume is None:
        return None
    if resume == "auto":
        last = Path(out) / "last.pt"
        return str(last) if last.is_file() else None
    if not os.path.isfile(resume):
        parser.error(f"argument --resume: no such file {resume!r}")
    return resume


def parse_config(argv: list[str] | None = None, prog: str = "python -m posemods.train") -> TrainConfig:
    """The run's config: the defaults, then ``--recipe``'s values, then every flag given explicitly.

    With ``--resume``, the resumed run's saved settings replace the defaults, and a flag (or recipe)
    that would change its model or data is refused (:func:`resumed_settings`).
    A wrong value exits 2 with the usage line; an unreadable checkpoint raises ``CheckpointError``.
    """
    parser = build_parser(prog)
    return _config(parser, parser.parse_args(argv), argv)


def _config(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None) -> TrainConfig:
    given = _given(argv)
    recipe = recipe_config(args.recipe) if args.recipe is not None else {}
    checkpoint = _checkpoint_to_resume(parser, args.resume, args.out)
    if checkpoint is not None:
        saved = read_checkpoint(checkpoint, require=("config",))["config"]
        requested = {k: (v, f"--recipe {args.recipe}") for k, v in recipe.items()}
        requested.update({k: (v, "--" + k.replace("_", "-")) for k, v in given.items()})
        settings = resumed_settings(saved, requested, checkpoint)
    else:
        settings = {**TrainConfig().to_dict(), **recipe, **given}
    args = argparse.Namespace(**settings)
    check_arguments(parser, args)
    try:
        return config_from_args(args)
    except ValueError as error:  # a value argparse could not check alone, e.g. --input-size 0 64
        parser.error(str(error))


def main(argv: list[str] | None = None, prog: str = "python -m posemods.train") -> dict:
    """Parse ``argv``, log to stderr, train; returns fit's dict.

    A wrong argument exits 2 with the usage line, a failed run 1, each with one ``error:`` line
    (``--debug``: the traceback instead; see :mod:`posemods._cli`).
    """
    parser = build_parser(prog)

    def train(args: argparse.Namespace) -> dict:
        config = _config(parser, args, argv)
        check_machine(config.device, config.data, data_root=config.data_root, annotations=config.annotations)
        check_writable_folder("--out", config.out)
        setup_logging()
        return fit(config)

    return run(parser, train, argv)


def cli() -> int:
    """The ``posemods-train`` console script."""
    main(prog="posemods-train")
    return 0


if __name__ == "__main__":
    main()

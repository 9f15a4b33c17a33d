"""Train a pose model on synthetic clips or a dataset folder: python -m posemods.train [options].

Synthetic data by default, so it runs anywhere::

    python -m posemods.train --model kimnet --variant kmm --epochs 3 --out runs/kimnet

A dataset you have: ``--data penn_action --data-root /data/PennAction``. Several processes:
``torchrun --nproc_per_node=N -m posemods.train ...`` (DDP; NCCL on GPUs, gloo on CPUs), with the
same global ``--batch-size``. ``--resume auto`` continues from ``OUT/last.pt`` exactly. Installed,
``posemods-train`` is the same command. The papers' settings: ``--recipe kimnet-penn | kimnet-jhmdb |
vremd-posetrack`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import sys

from posemods.training.checkpoint import CheckpointError
from posemods.training.config import TrainConfig, add_arguments, check_arguments, config_from_args, setup_logging
from posemods.training.fit import fit
from posemods.training.recipes import RECIPES, recipe_config


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _recipes_epilog() -> str:
    lines = ["recipes (--recipe NAME; flags given with it override its values):"]
    for name, values in RECIPES.items():
        lines.append(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return "\n".join(lines)


def build_parser(prog: str = "python -m posemods.train") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.splitlines()[0],
        formatter_class=_Formatter,
        epilog=_recipes_epilog(),
    )
    add_arguments(parser)
    return parser


def parse_config(argv: list[str] | None = None, prog: str = "python -m posemods.train") -> TrainConfig:
    """The run's config: the defaults, then ``--recipe``'s values, then every flag given explicitly.

    A wrong value exits 2 with the usage line.
    """
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.recipe is not None:
        # Parsed again without defaults: what is left are the flags the user typed, which win.
        explicit = argparse.ArgumentParser(add_help=False)
        add_arguments(explicit, overrides_only=True)
        given = vars(explicit.parse_known_args(argv)[0])
        args = argparse.Namespace(**{**TrainConfig().to_dict(), **recipe_config(args.recipe), **given})
    check_arguments(parser, args)
    try:
        return config_from_args(args)
    except ValueError as error:  # a value argparse could not check alone, e.g. --input-size 0 64
        parser.error(str(error))


def main(argv: list[str] | None = None, prog: str = "python -m posemods.train") -> dict:
    """Parse ``argv`` (a wrong value exits 2 with the usage line), log to stderr, train; returns fit's dict."""
    config = parse_config(argv, prog)
    setup_logging()
    try:
        return fit(config)
    except CheckpointError as error:  # --resume names an unusable file: say so, without a traceback
        print(f"{prog}: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def cli() -> int:
    """The ``posemods-train`` console script."""
    main(prog="posemods-train")
    return 0


if __name__ == "__main__":
    main()

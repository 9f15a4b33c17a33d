"""Train a pose model on synthetic clips or a dataset folder: python -m posemods.train [options].

Synthetic data by default, so it runs anywhere::

    python -m posemods.train --model kimnet --variant kmm --epochs 3 --out runs/kimnet

A dataset you have: ``--data penn_action --data-root /data/PennAction``. Several processes:
``torchrun --nproc_per_node=N -m posemods.train ...`` (DDP; NCCL on GPUs, gloo on CPUs), with the
same global ``--batch-size``. ``--resume auto`` continues from ``OUT/last.pt`` exactly. The papers'
settings: ``--recipe kimnet-penn | kimnet-jhmdb | vremd-posetrack`` (see ``--help``).
"""

from __future__ import annotations

import argparse

from posemods.training.config import TrainConfig, add_arguments, config_from_args
from posemods.training.fit import fit
from posemods.training.recipes import RECIPES, recipe_config


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _recipes_epilog() -> str:
    lines = ["recipes (--recipe NAME; flags given with it override its values):"]
    for name, values in RECIPES.items():
        lines.append(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return "\n".join(lines)


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """The run's config: the defaults, then ``--recipe``'s values, then every flag given explicitly."""
    parser = argparse.ArgumentParser(
        prog="python -m posemods.train",
        description=__doc__.splitlines()[0],
        formatter_class=_Formatter,
        epilog=_recipes_epilog(),
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.recipe is None:
        return config_from_args(args)
    # Parsed again without defaults: what is left are the flags the user typed, which win.
    explicit = argparse.ArgumentParser(add_help=False)
    add_arguments(explicit, overrides_only=True)
    given = vars(explicit.parse_known_args(argv)[0])
    return TrainConfig(**{**TrainConfig().to_dict(), **recipe_config(args.recipe), **given})


def main(argv: list[str] | None = None) -> dict:
    return fit(parse_config(argv))


if __name__ == "__main__":
    main()

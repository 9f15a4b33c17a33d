"""Train a pose model on synthetic clips or a dataset folder: python -m posemods.train [options].

Synthetic data by default, so it runs anywhere::

    python -m posemods.train --model kimnet --variant kmm --epochs 3 --out runs/kimnet

A dataset you have: ``--data penn_action --data-root /data/PennAction``. Several processes:
``torchrun --nproc_per_node=N -m posemods.train ...`` (DDP; NCCL on GPUs, gloo on CPUs), with the
same global ``--batch-size``. ``--resume auto`` continues from ``OUT/last.pt`` exactly. Installed,
``posemods-train`` is the same command.
"""

from __future__ import annotations

import argparse

from posemods.training.checkpoint import CheckpointError
from posemods.training.config import add_arguments, check_arguments, config_from_args, setup_logging
from posemods.training.fit import fit


def build_parser(prog: str = "python -m posemods.train") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m posemods.train") -> dict:
    """Parse ``argv`` (a wrong value exits 2 with the usage line), log to stderr, train; returns fit's dict."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    setup_logging()
    try:
        return fit(config_from_args(args))
    except CheckpointError as error:  # --resume names an unusable file: say so, without a traceback
        parser.exit(1, f"{parser.prog}: error: {error}\n")


def cli() -> int:
    """The ``posemods-train`` console script."""
    main(prog="posemods-train")
    return 0


if __name__ == "__main__":
    main()

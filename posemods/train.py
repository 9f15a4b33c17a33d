"""Train a pose model on synthetic clips or a dataset folder: python -m posemods.train [options].

Synthetic data by default, so it runs anywhere::

    python -m posemods.train --model kimnet --variant kmm --epochs 3 --out runs/kimnet

A dataset you have: ``--data penn_action --data-root /data/PennAction``. Several processes:
``torchrun --nproc_per_node=N -m posemods.train ...`` (DDP; NCCL on GPUs, gloo on CPUs), with the
same global ``--batch-size``. ``--resume auto`` continues from ``OUT/last.pt`` exactly.
"""

from __future__ import annotations

import argparse

from posemods.training.config import add_arguments, config_from_args
from posemods.training.fit import fit


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m posemods.train",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_arguments(parser)
    return fit(config_from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

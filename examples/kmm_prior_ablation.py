"""How much does a trained model lean on KMM's prior? Score it, then score it with the prior zeroed.

    PYTHONPATH=. python examples/kmm_prior_ablation.py RUN/last.pt    # any checkpoint of a model with KMM

Prints PCK (the checkpoint's own evaluation settings) on visible and occluded joints, with KMM's
output as trained and multiplied by 0 (the correction convs still see the current frame's features).
A model that ignores its prior scores the same both ways.
"""

from __future__ import annotations

import argparse
from unittest import mock

import torch

from posemods.evaluate import score_checkpoint
from posemods.modules.kmm import KinematicsModelingModule


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint of a model with KMM (python -m posemods.train)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    trained, _ = score_checkpoint(args.checkpoint, threads=args.threads)
    forward = KinematicsModelingModule.forward

    def zeroed(self, *inputs, **kwargs):
        out = forward(self, *inputs, **kwargs)
        return out * 0 if isinstance(out, torch.Tensor) else (out[0] * 0, *out[1:])

    with mock.patch.object(KinematicsModelingModule, "forward", zeroed):
        ablated, _ = score_checkpoint(args.checkpoint, threads=args.threads)
    results = {}
    for name in trained:
        before, after = trained[name].compute()["Mean"], ablated[name].compute()["Mean"]
        results[name] = (before, after)
        print(f"{name}: PCK {before:.2f} as trained, {after:.2f} with the prior zeroed ({after - before:+.2f})")
    return results


if __name__ == "__main__":
    main()

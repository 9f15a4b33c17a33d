"""How far apart LSTMPM's PCK and the RPSTN authors' PCK are on the same predictions.

    python examples/protocol_gap.py                              # synthetic heatmaps, under a minute
    python examples/protocol_gap.py --heatmap-size 16            # the same at 16 x 16 heatmaps
    python examples/protocol_gap.py --checkpoint runs/demo/last.pt  # and a trained model's predictions
    python examples/protocol_gap.py --checkpoint runs/demo/last.pt --input-size 256 256  # at 64 x 64 heatmaps

1. Synthetic heatmaps: clips of the synthetic people (64 x 64 heatmaps, J = 13, T = 5), targets
   rendered as the RPSTN authors render them, predictions Gaussians at the true joint plus an error
   of standard deviation 0.5 to 4 heatmap pixels (drawn per clip). Every joint with a coordinate is
   scored by both protocols, so only the arithmetic differs.
2. ``--checkpoint``: the run's evaluation clips scored by ``python -m posemods.evaluate`` both ways
   (LSTMPM person and torso size, on the visible joints; RPSTN's, on every joint with a target),
   optionally at another ``--input-size`` than the run's (RPSTN's numbers depend on the heatmap size).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from posemods.data import SyntheticPoseVideos, gaussian_heatmaps
from posemods.data.rpstn import rpstn_heatmaps
from posemods.metrics import PCK, RPSTNPCK, decode_heatmaps, torso_normalizer


def synthetic_heatmaps(clips: int, seed: int, side: int = 64) -> dict[str, float]:
    """Both protocols on ``clips`` synthetic clips of ``side`` x ``side`` heatmaps, errors scaled to the side."""
    size = (side, side)
    data = SyntheticPoseVideos(num_clips=clips, clip_length=5, frame_size=size, heatmap_size=size, seed=seed)
    rng = np.random.default_rng(seed)
    rpstn = RPSTNPCK("penn_action")
    lstmpm = {"torso": PCK("penn_action"), "person": PCK("penn_action")}
    for clip in data:
        joints, present = clip["joints_image"], clip["annotated"]  # heatmap pixels: frame and heatmap agree
        target, _ = rpstn_heatmaps(joints, present, size, size)
        error = rng.uniform(0.5, 4.0) * side / 64  # 0.5 to 4 pixels of a 64 x 64 heatmap
        noisy = joints + torch.from_numpy(rng.normal(0.0, error, size=tuple(joints.shape)))
        pred, _ = gaussian_heatmaps(noisy, torch.ones_like(present), size, size)
        rpstn.update(pred[None], target[None])
        decoded, _ = decode_heatmaps(pred)
        torso = torso_normalizer(clip["torso_size"], decoded, "penn_action")
        lstmpm["torso"].update(decoded, joints, present, torso)
        lstmpm["person"].update(decoded, joints, present, clip["person_size"])
    return {
        "rpstn": rpstn.compute()["Mean"],
        "lstmpm torso": lstmpm["torso"].compute()["Mean"],
        "lstmpm person": lstmpm["person"].compute()["Mean"],
    }


def checkpoint_scores(path: str, **overrides) -> dict[str, float]:
    from posemods.evaluate import score_checkpoint

    out = {}
    for normalize in ("person", "torso"):
        metrics, _ = score_checkpoint(path, eval_mode="auto", normalize=normalize, progress=False, **overrides)
        out[f"lstmpm {normalize}"] = metrics["visible"].compute()["Mean"]
    metrics, _ = score_checkpoint(path, protocol="rpstn", progress=False, **overrides)
    out["rpstn"] = metrics["rpstn"].compute()["Mean"]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=300, help="synthetic clips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heatmap-size", type=int, default=64, help="side of the synthetic heatmaps")
    parser.add_argument("--checkpoint", default=None, help="also score this run's evaluation clips both ways")
    parser.add_argument(
        "--input-size", type=int, nargs=2, metavar=("H", "W"), help="the checkpoint's clips at this size"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    side = args.heatmap_size
    results = {f"synthetic {side} x {side} heatmaps": synthetic_heatmaps(args.clips, args.seed, side)}
    if args.checkpoint:
        overrides = {} if args.input_size is None else {"input_size": tuple(args.input_size)}
        results[args.checkpoint] = checkpoint_scores(args.checkpoint, **overrides)
    for name, values in results.items():
        cells = ", ".join(f"{k} {v:.1f}" for k, v in values.items())
        print(f"{name}: mean PCK@0.2 {cells}")
    return results


if __name__ == "__main__":
    main()

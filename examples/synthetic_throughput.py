"""How many SyntheticPoseVideos clips one CPU core generates per second, per difficulty setting.

    PYTHONPATH=. python examples/synthetic_throughput.py [--clips 40] [--threads 1]

Training generates clips on the fly, so this is the data budget a DataLoader worker has.
"""

from __future__ import annotations

import argparse
import time

import torch

from posemods.data import SyntheticPoseVideos

SETTINGS = {
    "plain": {},
    "occluders=2": {"occluders": 2},
    "motion_blur=1": {"motion_blur": 1.0},
    "distractors=2": {"distractors": 2},
    "all three": {"distractors": 2, "occluders": 2, "motion_blur": 1.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clip-length", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--heatmap", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"T={args.clip_length}, {args.size}x{args.size} frames, {args.heatmap}x{args.heatmap} heatmaps, "
          f"{args.threads} thread(s), {args.clips} clips each")  # fmt: skip
    for name, kwargs in SETTINGS.items():
        ds = SyntheticPoseVideos(
            num_clips=args.clips + 1,
            clip_length=args.clip_length,
            frame_size=(args.size, args.size),
            heatmap_size=(args.heatmap, args.heatmap),
            seed=0,
            **kwargs,
        )
        ds[0]  # warm-up
        start = time.perf_counter()
        for i in range(1, args.clips + 1):
            ds[i]
        per_clip = (time.perf_counter() - start) / args.clips
        print(f"{name:>15}: {1 / per_clip:6.1f} clips/s ({1000 * per_clip:5.1f} ms/clip)")


if __name__ == "__main__":
    main()

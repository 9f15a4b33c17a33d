"""VREMD's Table 4 rows (baseline, +HKM, +BMD, both): parameters and per-key-frame CPU latency.

Each row is built with random weights (nothing is downloaded) and run on a random 3-frame clip. VREMD
predicts the middle frame of each clip, so the latency is per key frame: one forward of a batch-1 clip,
which includes the backbone on all three frames (on the key frame alone for the baseline). By default
the ViT is the "tiny" preset (ViT-Ti, C = 192) at the paper's 256 x 192 crops; ``--preset large`` is
the paper's ViT-L.

    python examples/vremd_ablation.py
    python examples/vremd_ablation.py --preset large --repeats 1
"""

from __future__ import annotations

import argparse

import torch

from posemods.models import VIT_PRESETS, VREMD, VREMD_TABLE4, count_parameters, per_frame_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=list(VIT_PRESETS), default="tiny", help="ViT size")
    parser.add_argument("--img-size", type=int, nargs=2, default=(256, 192), metavar=("H", "W"), help="crop size")
    parser.add_argument("--rows", nargs="+", choices=list(VREMD_TABLE4), default=list(VREMD_TABLE4))
    parser.add_argument("--joints", type=int, default=17, help="J (PoseTrack: 17)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is printed")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    frames = 3
    video = torch.randn(1, frames, 3, *args.img_size)
    print(
        f"ViT preset {args.preset!r} (C={VIT_PRESETS[args.preset][0]}), {args.img_size[0]}x{args.img_size[1]} crops, "
        f"T={frames}, J={args.joints}, {torch.get_num_threads()} CPU threads; latency = median of {args.repeats} "
        f"runs of a batch-1 clip (one key frame), eval mode"
    )
    header = (
        f"{'row':<9} {'params (M)':>11} {'trainable (M)':>14} {'HKM (M)':>8} {'BMD (M)':>8} {'per key frame (ms)':>19}"
    )
    print(header)
    print("-" * len(header))
    for row in args.rows:
        model = VREMD(args.joints, args.preset, img_size=tuple(args.img_size), **VREMD_TABLE4[row])
        counts = count_parameters(model)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        latency = per_frame_latency(model, video, repeats=args.repeats)["median_ms"]  # one key frame per clip
        print(
            f"{row:<9} {counts['total'] / 1e6:11.3f} {trainable / 1e6:14.3f} {counts.get('hkm', 0) / 1e6:8.3f} "
            f"{counts.get('bmd', 0) / 1e6:8.3f} {latency:19.1f}"
        )


if __name__ == "__main__":
    main()

"""Retrofit KMM into LSTMPM, DKD and RPSTN (KIMNet Table 2): params and per-frame CPU latency.

Each model is built twice, with its own temporal block (``temporal="original"``) and with KMM in its
place (``temporal="kmm"``), with random weights, and run on a random clip. By default the backbones and
inputs are small so this finishes in well under a minute on a laptop CPU; ``--full`` uses the papers'
sizes (ResNet-101/ResNet-50 SimpleBaselines at 256 x 256, LSTMPM at 368 x 368, T = 5).

    python examples/retrofit_kmm.py
    python examples/retrofit_kmm.py --full --repeats 3
"""

from __future__ import annotations

import argparse

import torch

from posemods.models import DKD, LSTMPM, RPSTN, count_parameters, per_frame_latency

MODELS = {"lstmpm": LSTMPM, "dkd": DKD, "rpstn": RPSTN}


def build(name: str, temporal: str, args: argparse.Namespace) -> torch.nn.Module:
    if name == "lstmpm":
        return LSTMPM(args.joints, temporal)
    return MODELS[name](
        args.joints,
        temporal,
        initializer_backbone=args.initializer,
        encoder_backbone=args.encoder,
        channels=args.channels,
    )


def temporal_params(model: torch.nn.Module) -> int:
    """Parameters of the block that ``temporal=`` swaps: the temporal module, the ConvLSTM cells, the correction."""
    counts = count_parameters(model)
    return sum(counts.get(k, 0) for k in ("temporal", "correction", "first_cell", "cell"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the papers' backbones and input sizes")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["lstmpm", "dkd", "rpstn"])
    parser.add_argument("--initializer", default=None, help="timm backbone of the pose initializer")
    parser.add_argument("--encoder", default=None, help="timm backbone of the feature encoder")
    parser.add_argument("--channels", type=int, default=None, help="encoder width C")
    parser.add_argument("--size", type=int, default=None, help="input side for DKD/RPSTN")
    parser.add_argument("--lstmpm-size", type=int, default=None, help="input side for LSTMPM")
    parser.add_argument("--frames", type=int, default=None, help="T")
    parser.add_argument("--joints", type=int, default=13, help="J (Penn Action: 13)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is printed")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    small = {
        "initializer": "resnet18",
        "encoder": "resnet18",
        "channels": 64,
        "size": 128,
        "lstmpm_size": 128,
        "frames": 3,
    }
    full = {
        "initializer": "resnet101",
        "encoder": "resnet50",
        "channels": 256,
        "size": 256,
        "lstmpm_size": 368,
        "frames": 5,
    }
    for key, value in (full if args.full else small).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(
        f"T={args.frames}, J={args.joints}, DKD/RPSTN {args.size}x{args.size} with {args.initializer}/{args.encoder} "
        f"(C={args.channels}), LSTMPM {args.lstmpm_size}x{args.lstmpm_size}, {torch.get_num_threads()} CPU threads; "
        f"latency = median of {args.repeats} runs / T, batch 1, eval mode"
    )
    header = f"{'model':<8} {'temporal':<9} {'params (M)':>11} {'swapped block (M)':>18} {'per-frame (ms)':>15}"
    print(header)
    print("-" * len(header))
    for name in args.models:
        side = args.lstmpm_size if name == "lstmpm" else args.size
        video = torch.randn(1, args.frames, 3, side, side)
        for temporal in ("original", "kmm"):
            model = build(name, temporal, args)
            latency = per_frame_latency(model, video, repeats=args.repeats)
            total = count_parameters(model)["total"]
            print(
                f"{name:<8} {temporal:<9} {total / 1e6:11.3f} {temporal_params(model) / 1e6:18.4f} "
                f"{latency['median_ms']:15.1f}"
            )


if __name__ == "__main__":
    main()

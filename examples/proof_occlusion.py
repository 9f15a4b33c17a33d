"""KIMNet section 4.5 on synthetic videos: does KMM help when joints are masked? Paired over seeds.

    PYTHONPATH=. python examples/proof_occlusion.py                 # about an hour on 2 CPU cores
    PYTHONPATH=. python examples/proof_occlusion.py --device cuda --set preset=paper input-size=256,256
    PYTHONPATH=. python examples/proof_occlusion.py --quick         # seconds: a smoke test, not a result

For each seed, KIMNet without a temporal module (``none``, Table 4's baseline) and with KMM (``kmm``)
train on the same SyntheticPoseVideos clips with the same steps. Both are then scored on the same
held-out videos, each run whole through ``stream`` (the initializer on frame 1 only), under the
protocol of section 4.5.1 (:class:`posemods.data.OcclusionMasks`, the same masks for both models):

- temporal: "We randomly select a frame from the input sequence and generate two masks";
- spatial: "we randomly generate two masks from the 2nd to the T-th frame";
- Figure 8: "the number of occluded joints is increased from 1 to 9" (spatial masks).

Reported: PCK over every annotated joint and over the masked ones, per model, and the paired
difference kmm - none per seed, with its mean and standard deviation over the seeds. A difference
within its spread says nothing either way; the table says so rather than claim a gain.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Sized for about an hour on 2 shared cores (6 trainings, then 2 x 6 + 9 x 6 scorings of 100 videos).
DEFAULT = {
    "preset": "small", "input-size": "64,64", "clip-length": "5", "train-clips": "1200", "epochs": "2",
    "eval-clips": "100", "batch-size": "8", "occluders": "2", "occluder-size": "16", "lr": "2e-3",
    "warmup-steps": "30",
}  # fmt: skip
QUICK = {
    "preset": "tiny", "input-size": "32,32", "clip-length": "3", "train-clips": "8", "epochs": "1",
    "eval-clips": "4", "batch-size": "4", "occluders": "0", "occluder-size": "8", "lr": "1e-3",
    "warmup-steps": "1",
}  # fmt: skip
VARIANTS = ("none", "kmm")


def train(variant: str, seed: int, settings: dict, out: Path, device: str) -> Path:
    from posemods.training import TrainConfig, fit

    config = TrainConfig(
        model="kimnet", variant=variant, preset=settings["preset"],
        input_size=tuple(int(v) for v in settings["input-size"].split(",")),
        clip_length=int(settings["clip-length"]), train_clips=int(settings["train-clips"]),
        epochs=int(settings["epochs"]), eval_clips=int(settings["eval-clips"]),
        batch_size=int(settings["batch-size"]), occluders=int(settings["occluders"]),
        occluder_size=int(settings["occluder-size"]), lr=float(settings["lr"]),
        warmup_steps=int(settings["warmup-steps"]), seed=seed, out=str(out), progress=False,
        evaluate_every_epoch=False, device=device,
    )  # fmt: skip
    fit(config)
    return out / "last.pt"


def paired(values: dict[str, list[float]]) -> tuple[list[float], float, float]:
    """Per-seed differences kmm - none, their mean and standard deviation (0 for one seed)."""
    diffs = [b - a for a, b in zip(values["none"], values["kmm"])]
    spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    return diffs, statistics.fmean(diffs), spread


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke test")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (--quick: 0 1)")
    parser.add_argument("--joints", type=int, default=2, help="masked joints for the two protocols (2)")
    parser.add_argument("--sweep", default=None, help="Figure 8's counts, default 1-9 (--quick: 1)")
    parser.add_argument("--mask-size", type=float, default=None,
                        help="mask side in pixels; default 40 at 256 px, scaled to the frame")  # fmt: skip
    parser.add_argument("--set", nargs="*", default=[], metavar="FLAG=VALUE", help="override a setting")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--out", default="runs/proof_occlusion")
    parser.add_argument("--table", default=str(ROOT / "examples/results/proof_occlusion.md"))
    parser.add_argument("--plot", default=None, help="Figure 8 file (default: beside the table)")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else DEFAULT)
    for item in args.set:
        flag, value = item.split("=", 1)
        if flag not in settings:
            raise SystemExit(f"--set: unknown setting {flag!r}; known: {', '.join(settings)}")
        settings[flag] = value
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])
    from posemods.evaluate import occlusion_sweep, parse_counts, plot_sweep

    counts = parse_counts(args.sweep or ("1" if args.quick else "1-9"))
    side = int(settings["input-size"].split(",")[0])
    size = args.mask_size if args.mask_size is not None else 40 * side / 256
    out = Path(args.out)
    start = time.perf_counter()
    checkpoints = {(v, s): train(v, s, settings, out / f"{v}-seed{s}", args.device) for s in seeds for v in VARIANTS}
    train_seconds = time.perf_counter() - start

    # occlusion_sweep seeds the masks with 0 (no seed override here), so both variants of a seed see the same masks.
    score = lambda path, ks, mode: occlusion_sweep([str(path)], ks, mode, size, "video", progress=False)[str(path)]
    results: dict = {"protocols": {}, "sweep": {}}
    for mode in ("temporal", "spatial"):
        per = {v: [score(checkpoints[v, s], [args.joints], mode)[args.joints] for s in seeds] for v in VARIANTS}
        results["protocols"][mode] = per
    sweep = {v: {s: score(checkpoints[v, s], counts, "spatial") for s in seeds} for v in VARIANTS}
    results["sweep"] = sweep

    lines = ["| protocol | joints | none | kmm | kmm - none per seed | mean ± sd |", "|---|---|---:|---:|---|---:|"]
    for mode, per in results["protocols"].items():
        for which in ("all", "occluded"):
            values = {v: [r[which] for r in per[v]] for v in VARIANTS}
            diffs, mean, spread = paired(values)
            lines.append(
                f"| {mode} ({args.joints} masks) | {which} | {statistics.fmean(values['none']):.1f} | "
                f"{statistics.fmean(values['kmm']):.1f} | {', '.join(f'{d:+.1f}' for d in diffs)} | "
                f"{mean:+.1f} ± {spread:.1f} |"
            )
    lines += ["", "| occluded joints | none | kmm | kmm - none (mean ± sd) |", "|---:|---:|---:|---:|"]
    curve = {}
    for k in counts:
        values = {v: [sweep[v][s][k]["all"] for s in seeds] for v in VARIANTS}
        _, mean, spread = paired(values)
        curve[k] = {v: statistics.fmean(values[v]) for v in VARIANTS}
        lines.append(f"| {k} | {curve[k]['none']:.1f} | {curve[k]['kmm']:.1f} | {mean:+.1f} ± {spread:.1f} |")
    plot = args.plot or str(Path(args.table).with_suffix(".png"))
    written = plot_sweep({f"kimnet-{v}/last.pt": {k: {"all": curve[k][v], "occluded": float("nan")} for k in counts}
                          for v in VARIANTS}, plot)  # fmt: skip
    described = ", ".join(f"{k}={v}" for k, v in settings.items())
    text = "\n".join([
        "# KIMNet none vs kmm under section 4.5 occlusion" + (" (--quick: a smoke test, not a result)" * args.quick),
        "", *lines, "",
        f"PCK@0.2 (person size, %) on {settings['eval-clips']} held-out synthetic videos, each streamed whole; "
        f"'all': every annotated joint, 'occluded': the masked ones. Masks {size:g} px, seeds {seeds}, "
        f"the same masks for both variants of a seed. Settings: {described}; device {args.device}; "
        f"training {train_seconds / 60:.1f} min. Figure 8 curve: {written}.",
    ])  # fmt: skip
    Path(args.table).parent.mkdir(parents=True, exist_ok=True)
    Path(args.table).write_text(text + "\n")
    Path(args.table).with_suffix(".json").write_text(json.dumps(
        {"settings": settings, "seeds": seeds, "mask_size": size, "protocols": results["protocols"],
         "curve": curve}, indent=2, default=str))  # fmt: skip
    print(text)
    return results


if __name__ == "__main__":
    main()

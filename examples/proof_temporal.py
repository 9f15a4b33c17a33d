"""The proof: do the temporal modules help under occlusion? Same data, seed and budget, with and without.

    PYTHONPATH=. python examples/proof_temporal.py            # the default run (~15 min on 2 cores)
    PYTHONPATH=. python examples/proof_temporal.py --quick    # seconds: a smoke test for CI

Each run is ``MODEL:VARIANT`` (default: KIMNet without a temporal module and with KMM, then VREMD's
baseline and HKM+BMD). Every run
trains with ``python -m posemods.train`` in its own process on the same SyntheticPoseVideos clips
(occluder boxes, some in one frame, some in frames 2..T), the same seed and the same number of
steps, then the same held-out clips are scored with PCK on the visible joints (the protocol) and on
the occluded ones (annotated but not visible: under a box, or outside the frame). Runs go ``--jobs``
at a time, one thread each: on a shared 2-core machine two single-threaded runs finish sooner than one
two-threaded run after another.

The results table goes to ``--table`` (Markdown) with the settings, wall times and the machine's load.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The settings of the default run and of --quick. Occluders are 16 px at 64 x 64 (a quarter of the
# frame side; the paper's 40 px at 256 x 256 is a sixth) and 3 per clip: heavy enough that many joints
# are covered, so a temporal gain has something to show.
DEFAULT = {
    "preset": "small", "input-size": ["64", "64"], "clip-length": "5", "train-clips": "1200", "epochs": "2",
    "eval-clips": "200", "batch-size": "8", "occluders": "3", "occluder-size": "16", "lr": "2e-3",
    "warmup-steps": "30",
}  # fmt: skip
QUICK = {
    "preset": "tiny", "input-size": ["32", "32"], "clip-length": "3", "train-clips": "8", "epochs": "1",
    "eval-clips": "4", "batch-size": "4", "occluders": "2", "occluder-size": "8", "lr": "1e-3",
    "warmup-steps": "1",
}  # fmt: skip
# KIMNet without and with KMM; VREMD's baseline (a ViT and ViTPose's head) and HKM+BMD, where
# posemods.models has VREMD.
DEFAULT_RUNS = ["kimnet:none", "kimnet:kmm"]
if importlib.util.find_spec("posemods.models.vremd") is not None:
    DEFAULT_RUNS += ["vremd:baseline", "vremd:hkm+bmd"]
# Settings one model family needs on top of those (a pair is always compared on equal terms): VREMD
# predicts the middle of 3 frames, as in its paper.
MODEL_SETTINGS: dict[str, dict] = {"vremd": {"clip-length": "3"}}
# What is scored: PCK@0.2 by person size (the protocol), and the stricter torso size and alpha 0.1,
# on the visible joints and on the occluded ones.
THRESHOLDS = (("person@0.2", "person", 0.2), ("torso@0.2", "torso", 0.2), ("person@0.1", "person", 0.1))
SCORES = {
    f"{label}/{joints}": {"normalize": normalize, "alpha": alpha, "joints": joints}
    for label, normalize, alpha in THRESHOLDS
    for joints in ("visible", "occluded")
}


def train_run(run: str, settings: dict, out: Path, seed: int) -> float:
    """Train ``MODEL:VARIANT`` in a fresh process; return its wall time in seconds."""
    model, variant = run.split(":", 1)
    args = [sys.executable, "-m", "posemods.train", "--model", model, "--variant", variant]
    for flag, value in {**settings, **MODEL_SETTINGS.get(model, {})}.items():
        args += [f"--{flag}", *(value if isinstance(value, list) else [value])]
    args += ["--seed", str(seed), "--out", str(out), "--threads", "1", "--no-progress", "--no-evaluate-every-epoch"]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    start = time.perf_counter()
    result = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{run} failed:\n{result.stderr[-4000:]}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="MODEL:VARIANT pairs")
    parser.add_argument("--quick", action="store_true", help="tiny settings, seconds: a smoke test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="FLAG=VALUE", help="override a setting, e.g. occluder-size=24"
    )
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once, one thread each")
    parser.add_argument("--out", default="runs/proof_temporal", help="folder for the runs' checkpoints")
    parser.add_argument("--table", default=str(ROOT / "examples/results/proof_temporal.md"), help="Markdown output")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else DEFAULT)
    for item in args.set:
        flag, value = item.split("=", 1)
        if flag not in settings:
            raise SystemExit(f"--set: unknown setting {flag!r}; known: {', '.join(settings)}")
        settings[flag] = value.split(",") if isinstance(settings[flag], list) else value
    out = Path(args.out)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        seconds = list(pool.map(lambda r: train_run(r, settings, out / r.replace(":", "-"), args.seed), args.runs))
    total = time.perf_counter() - start

    from posemods.evaluate import score_checkpoint

    results = {}
    for run, wall in zip(args.runs, seconds):
        metrics, _ = score_checkpoint(str(out / run.replace(":", "-") / "last.pt"), scores=SCORES, progress=False)
        results[run] = {name: m.compute()["Mean"] for name, m in metrics.items()}
        results[run]["counted"] = {name: int(m.counted.sum()) for name, m in metrics.items()}
        results[run]["train_seconds"] = wall
    load_after = os.getloadavg()[0]

    columns = list(SCORES)
    lines = [
        "| run | " + " | ".join(c.replace("/", " ") for c in columns) + " | joints visible / occluded | train time |",
        "|---|" + "---:|" * (len(columns) + 2),
    ]
    for run, r in results.items():
        joints = f"{r['counted']['person@0.2/visible']} / {r['counted']['person@0.2/occluded']}"
        lines.append(
            f"| {run} | " + " | ".join(f"{r[c]:.1f}" for c in columns)
            + f" | {joints} | {r['train_seconds'] / 60:.1f} min |"
        )  # fmt: skip
    describe = lambda d: ", ".join(f"{k}={' '.join(v) if isinstance(v, list) else v}" for k, v in d.items())
    described = describe(settings)
    models = sorted({run.split(":")[0] for run in args.runs} & set(MODEL_SETTINGS))
    specific = "".join(f"; for {m}: {describe(MODEL_SETTINGS[m])}" for m in models)
    command = " ".join(["PYTHONPATH=. python examples/proof_temporal.py", *(sys.argv[1:] if argv is None else argv)])
    steps = int(settings["train-clips"]) // int(settings["batch-size"]) * int(settings["epochs"])
    text = "\n".join(
        [
            f"# Temporal modules under occlusion{' (--quick: a smoke test, not a result)' if args.quick else ''}",
            "",
            *lines,
            "",
            f"PCK (%) on {settings['eval-clips']} held-out SyntheticPoseVideos clips: 'visible' joints are the "
            f"protocol's, 'occluded' ones are annotated but not visible: under a box or outside the frame. A "
            f"clip model is scored on every frame, a key-frame model (VREMD) on its clip's middle frame.",
            "",
            f"Settings, the same for every run: {described}, seed={args.seed}, {steps} AdamW steps, "
            f"one thread per run, {args.jobs} runs at a time{specific}.",
            f"Wall time {total / 60:.1f} min in all; load average {load_before:.1f} before, {load_after:.1f} after "
            f"(on {os.cpu_count()} cores, shared).",
            "",
            f"Command: `{command}`",
        ]
    )  # fmt: skip
    Path(args.table).parent.mkdir(parents=True, exist_ok=True)
    Path(args.table).write_text(text + "\n")
    Path(args.table).with_suffix(".json").write_text(json.dumps({"settings": settings, "results": results}, indent=2))
    print(text)
    return results


if __name__ == "__main__":
    main()

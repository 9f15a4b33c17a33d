"""The main demo: train a small KIMNet (with KMM) on synthetic pose videos on the CPU, then score it.

    python examples/demo.py                 # under 2 minutes on a quiet CPU core (see the README)
    python examples/demo.py --steps 20      # a quicker look

Nothing is downloaded: the clips are SyntheticPoseVideos (stick people with occluder boxes) made on
the fly. Training goes through the same code as ``python -m posemods.train`` (progress bars on a
terminal, checkpoint in ``--out``), then the held-out clips are scored and the per-joint PCK table
printed: visible joints (the protocol) and joints hidden under an occluder. Score the checkpoint again
with ``python -m posemods.evaluate OUT/last.pt``, or draw it with ``python -m posemods.visualize OUT/last.pt``.
"""

from __future__ import annotations

import argparse
import time

from posemods.evaluate import per_joint_table
from posemods.training import TrainConfig, fit
from posemods.training.config import setup_logging


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps of 8 clips")
    parser.add_argument("--eval-clips", type=int, default=64, help="held-out clips scored")
    parser.add_argument("--variant", default="kmm", help="KIMNet's temporal module: kmm | none | ...")
    parser.add_argument("--out", default="runs/demo")
    # One thread: on a shared or small machine, more threads mostly wait on each other (2 threads took
    # 3-5x the CPU time per step of 1 on this project's loaded 2-core machine).
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's choice)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bars (default: only on a terminal)")  # fmt: skip
    args = parser.parse_args(argv)
    config = TrainConfig(
        model="kimnet", variant=args.variant, preset="small", input_size=(64, 64), clip_length=5,
        train_clips=8 * args.steps, eval_clips=args.eval_clips, epochs=1, batch_size=8, lr=2e-3,
        warmup_steps=min(30, args.steps),
        occluders=3, occluder_size=16, out=args.out, threads=args.threads or None, progress=args.progress,
        evaluate_every_epoch=False,
    )  # fmt: skip
    setup_logging()  # fit's banner and summary on stderr
    start = time.perf_counter()
    print(f"Training KIMNet ({args.variant}) for {args.steps} steps of 8 synthetic clips (64 x 64, T = 5) ...")
    result = fit(config)
    trained = time.perf_counter() - start

    from posemods.evaluate import score_checkpoint

    metrics, _ = score_checkpoint(f"{args.out}/last.pt", progress=args.progress, threads=args.threads or None)
    print(f"\nTrained in {trained / 60:.1f} min. PCK@0.2 (%, by person size) on {args.eval_clips} held-out clips,")
    print("of the joints in view (visible) and of those under an occluder box (occluded):")
    print(per_joint_table(metrics))
    print(
        f"\nCheckpoint: {args.out}/last.pt  (python -m posemods.evaluate {args.out}/last.pt; "
        f"pictures: python -m posemods.visualize {args.out}/last.pt)"
    )
    return {"metrics": metrics, "result": result}


if __name__ == "__main__":
    main()

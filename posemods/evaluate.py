"""Score a checkpoint and print the per-joint PCK table: python -m posemods.evaluate CHECKPOINT.

The model and, by default, the data come from the checkpoint's saved config (for a synthetic run:
its held-out evaluation clips). Any data or metric flag overrides it, e.g.
``--data penn_action --data-root /data/PennAction``, ``--normalize torso``, ``--alpha 0.1``.
Under ``torchrun`` the clips are shared out and the counts summed. The table goes to stdout, the
progress and messages to stderr (:mod:`logging`). Installed, ``posemods-evaluate`` is the same command.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path

import torch

from posemods.metrics import PCK, describe_protocol
from posemods.skeletons import GROUP_NAMES
from posemods.training import distributed
from posemods.training.checkpoint import CheckpointError, load_checkpoint, load_model_state
from posemods.training.config import TrainConfig, add_arguments, check_arguments, setup_logging
from posemods.training.datasets import build_datasets
from posemods.training.fit import build_model, eval_loader
from posemods.training.loop import evaluate
from posemods.training.posetrack_eval import posetrack_map_of, predict_key_frames
from posemods.training.registry import get_model_spec

logger = logging.getLogger(__name__)

# The flags that may override the checkpoint's config.
OVERRIDES = (
    "data", "data_root", "annotations", "split", "clip_length", "input_size", "sigma", "eval_clips",
    "occluders", "occluder_size", "distractors", "motion_blur", "seed", "alpha", "normalize", "batch_size",
    "workers", "threads", "device", "progress",
)  # fmt: skip


def per_joint_table(metrics: dict[str, PCK]) -> str:
    """Rows: every joint, then the groups and the mean; one column per metric (NaN: nothing counted)."""
    first = next(iter(metrics.values()))
    values = {name: metric.compute() for name, metric in metrics.items()}
    rows = [*first.skeleton.joint_names, *first.skeleton.groups, "Mean"]
    width = max(len(r) for r in rows)
    header = f"{'joint':<{width}} | " + " | ".join(f"{name:>9}" for name in metrics)
    lines = [header, "-" * len(header)]
    for row in rows:
        if row in first.skeleton.groups and row == next(iter(first.skeleton.groups)):
            lines.append("-" * len(header))
        lines.append(f"{row:<{width}} | " + " | ".join(f"{values[name][row]:9.1f}" for name in metrics))
    return "\n".join(lines)


def score_checkpoint(path: str, scores: dict | None = None, **overrides) -> tuple[dict, TrainConfig]:
    """Evaluate the checkpoint at ``path``; ``overrides`` replace fields of its saved config.

    Returns ``({name: PCK}, config)``; ``scores`` picks the PCKs (see
    :func:`posemods.training.loop.evaluate`). On PoseTrack the dict also holds ``"mAP"``: poseval's
    per-joint APs, groups and mean (see :mod:`posemods.training.posetrack_eval`).
    """
    state = load_checkpoint(path, require=("config", "model"))
    try:
        saved = TrainConfig.from_dict(state["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {os.fspath(path)!r}: its saved config cannot be read ({error})") from None
    config = dataclasses.replace(saved, **overrides, resume=None)
    context = distributed.setup(config.device)
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        _, eval_set, layout = build_datasets(config, get_model_spec(config.model), train=False)
        model, spec = build_model(config, layout.num_joints)
        load_model_state(model, state, path, config.to_dict())
        model.to(context.device)
        if context.is_main:
            variant = config.variant or spec.default_variant
            logger.info(
                "posemods.evaluate: %s (%s, %s) from %s; data %s, %d clips at %d x %d (H x W); device %s",
                config.model, variant, config.preset, path, config.data, len(eval_set), *config.input_size,
                context.device,
            )  # fmt: skip
        per_process = max(config.batch_size // context.world_size, 1)
        loader = eval_loader(eval_set, per_process, context, config.workers)
        if config.progress and context.is_main:
            from tqdm.auto import tqdm

            loader = tqdm(loader, desc="evaluate", leave=False)
        metrics = evaluate(model, spec, loader, layout, context, config.alpha, config.normalize, scores)
        if config.data == "posetrack":
            predictions = predict_key_frames(model, spec, eval_set, context, per_process)
            metrics["mAP"] = posetrack_map_of(predictions, config.data_root, Path(config.annotations) / "val")
        return metrics, config
    finally:
        distributed.teardown(context)


def main(argv: list[str] | None = None, prog: str = "python -m posemods.evaluate") -> dict[str, PCK]:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint written by python -m posemods.train (e.g. OUT/last.pt)")
    add_arguments(parser, OVERRIDES, overrides_only=True)
    namespace = parser.parse_args(argv)
    check_arguments(parser, namespace)
    args = vars(namespace)
    setup_logging()
    path = args.pop("checkpoint")
    if not os.path.isfile(path):
        parser.error(f"argument checkpoint: no such file {path!r}")
    try:
        metrics, config = score_checkpoint(path, **args)
    except CheckpointError as error:  # the file is what is wrong: say so, without a traceback
        parser.exit(1, f"{parser.prog}: error: {error}\n")
    if int(os.environ.get("RANK", "0")) == 0:
        variant = config.variant or get_model_spec(config.model).default_variant
        print(f"{config.model} ({variant}, {config.preset}) on {config.data}: "
              f"PCK@{config.alpha}, normalised by {config.normalize} size")  # fmt: skip
        layout = next(iter(metrics.values())).skeleton
        print(describe_protocol(config.data, layout, config.normalize, config.alpha))
        average_precision = metrics.pop("mAP", None)
        print(per_joint_table(metrics))
        if average_precision is not None:
            columns = [*GROUP_NAMES, "Mean"]
            print("\nPoseTrack mAP (poseval)\n" + " | ".join(f"{c:>5}" for c in columns))
            print(" | ".join(f"{average_precision[c]:5.1f}" for c in columns))
            metrics["mAP"] = average_precision
    return metrics


def cli() -> int:
    """The ``posemods-evaluate`` console script."""
    main(prog="posemods-evaluate")
    return 0


if __name__ == "__main__":
    main()

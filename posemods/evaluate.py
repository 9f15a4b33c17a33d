"""Score a checkpoint and print the per-joint PCK table: python -m posemods.evaluate CHECKPOINT.

The model and, by default, the data come from the checkpoint's saved config (for a synthetic run:
its held-out evaluation clips). Any data or metric flag overrides it, e.g.
``--data penn_action --data-root /data/PennAction``, ``--normalize torso``, ``--alpha 0.1``.
``--protocol rpstn`` scores by the RPSTN authors' evaluation instead of LSTMPM's (the default; see
:mod:`posemods.metrics.protocol` for how the two differ).
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

from posemods._shapes import expect_choice
from posemods.data import get_dataset_spec
from posemods.data.occlusion import OcclusionMasks, TransformedDataset
from posemods.metrics import PCK, describe_protocol
from posemods.metrics.rpstn import PCK_PROTOCOLS
from posemods.models import get_model_spec
from posemods.skeletons import GROUP_NAMES
from posemods.training import distributed
from posemods.training.checkpoint import CheckpointError, load_model_state, read_checkpoint
from posemods.training.config import TrainConfig, add_arguments, check_arguments, setup_logging
from posemods.training.datasets import build_datasets, dataset_protocol
from posemods.training.loop import eval_loader, evaluate
from posemods.training.posetrack_eval import posetrack_map_of, predict_key_frames
from posemods.training.registry import build_model
from posemods.training.video_eval import EVAL_MODES, WholeVideos, default_eval_mode, evaluate_videos

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


def score_checkpoint(
    path: str,
    scores: dict | None = None,
    eval_mode: str = "clips",
    occlusion=None,
    protocol: str = "lstmpm",
    **overrides,
) -> tuple[dict, TrainConfig]:
    """Evaluate the checkpoint at ``path``; ``overrides`` replace fields of its saved config.

    Returns ``({name: PCK}, config)``; ``scores`` picks the PCKs (see
    :func:`posemods.training.loop.evaluate`). On PoseTrack the dict also holds ``"mAP"``: poseval's
    per-joint APs, groups and mean (see :mod:`posemods.training.posetrack_eval`).

    ``eval_mode``: ``"clips"`` scores the evaluation clips (each restarts a recursive model from
    its pose initializer), ``"video"`` runs each whole test video through the model's ``stream``
    (:mod:`posemods.training.video_eval`), ``"auto"`` picks ``"video"`` for recursive models.
    ``occlusion``: a clip transform applied to every evaluation clip, e.g.
    :class:`posemods.data.OcclusionMasks` (KIMNet section 4.5).
    ``protocol``: ``"lstmpm"`` or ``"rpstn"``, the RPSTN authors' test (one clip per test video, PCK
    from heatmaps: :mod:`posemods.training.rpstn_eval`); it returns ``{"rpstn": RPSTNPCK}`` and takes
    neither ``eval_mode``, ``scores`` nor ``occlusion``.
    """
    expect_choice("eval_mode", eval_mode, ("auto", *EVAL_MODES))
    expect_choice("protocol", protocol, PCK_PROTOCOLS)
    state = read_checkpoint(path, require=("config", "model"))
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
        if protocol == "rpstn":
            from posemods.data.rpstn import RPSTNTestClips
            from posemods.training.rpstn_eval import RPSTN_DATASETS, evaluate_rpstn

            if config.data not in RPSTN_DATASETS or spec.output != "clip":
                what = (
                    f"data {config.data}"
                    if config.data not in RPSTN_DATASETS
                    else f"a key-frame model ({config.model})"
                )
                raise CheckpointError(
                    f"checkpoint {os.fspath(path)!r}: --protocol rpstn scores every frame of clips of "
                    f"{' or '.join(RPSTN_DATASETS)}; this run has {what}"
                )
            loader = eval_loader(RPSTNTestClips(eval_set), per_process, context, config.workers)
            return {"rpstn": evaluate_rpstn(model, spec, loader, layout, context, config.alpha)}, config
        eval_mode = default_eval_mode(model) if eval_mode == "auto" else eval_mode
        scored_set = WholeVideos(eval_set) if eval_mode == "video" else eval_set
        if occlusion is not None:
            scored_set = TransformedDataset(scored_set, occlusion)
        # Whole videos differ in length: one per batch, unless the set has no videos to unroll (synthetic
        # clips: WholeVideos passes them through, all of one length).
        batch = per_process if eval_mode == "clips" or getattr(eval_set, "records", None) is None else 1
        loader = eval_loader(scored_set, batch, context, config.workers)
        if config.progress and context.is_main:
            from tqdm.auto import tqdm

            loader = tqdm(loader, desc="evaluate", leave=False)
        if eval_mode == "video":
            metrics = evaluate_videos(model, spec, loader, layout, context, config.alpha, config.normalize, scores)
        else:
            metrics = evaluate(model, spec, loader, layout, context, config.alpha, config.normalize, scores)
        if dataset_protocol(config).posetrack_map:
            predictions = predict_key_frames(model, spec, eval_set, context, per_process)
            metrics["mAP"] = posetrack_map_of(predictions, config.data_root, Path(config.annotations) / "val")
        return metrics, config
    finally:
        distributed.teardown(context)


def parse_counts(text: str) -> list[int]:
    """``"1-9"`` or ``"1,3,5"`` (or a mix) -> the sorted positive counts."""
    counts: set[int] = set()
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            counts.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected counts like 1-9 or 1,3,5, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected positive counts like 1-9, got {text!r}")
    return sorted(counts)


#: What the sweep scores: every annotated joint is visible or occluded, so "all" is their union.
SWEEP_SCORES = {"visible": {"joints": "visible"}, "occluded": {"joints": "occluded"}}


def occlusion_sweep(
    paths: list[str], counts: list[int], mode: str = "spatial", size: float = 40, eval_mode: str = "auto", **overrides
) -> dict[str, dict[int, dict[str, float]]]:
    """KIMNet's Figure 8: score each checkpoint with 1..9 (``counts``) joints occluded.

    "the number of occluded joints is increased from 1 to 9. Under the same experimental settings,
    we compare the performance ..." (KIMNet 4.5.1). Every checkpoint sees the same masks
    (:class:`~posemods.data.OcclusionMasks` seeded with the ``seed`` override, 0 when none is given,
    not with each checkpoint's own seed). Returns
    ``{path: {k: {"all": mean PCK over every annotated joint, "occluded": over the masked ones}}}``.
    """
    table: dict[str, dict[int, dict[str, float]]] = {}
    for path in paths:
        table[path] = {}
        for k in counts:
            seed = overrides.get("seed", 0)
            masks = OcclusionMasks(size=size, joints=k, mode=mode, seed=seed)
            metrics, _ = score_checkpoint(path, SWEEP_SCORES, eval_mode, masks, **overrides)
            visible, occluded = metrics["visible"], metrics["occluded"]
            counted = float(visible.counted.sum() + occluded.counted.sum())
            correct = float(visible.correct.sum() + occluded.correct.sum())
            table[path][k] = {
                "all": 100.0 * correct / counted if counted else float("nan"),
                "occluded": occluded.compute()["Mean"],
            }
    return table


def sweep_table(table: dict[str, dict[int, dict[str, float]]]) -> str:
    """Rows: the number of occluded joints; per checkpoint, PCK over all joints and over the masked ones."""
    paths = list(table)
    counts = list(next(iter(table.values())))
    header = "k | " + " | ".join(f"{'ckpt ' + str(i + 1) + ' all':>12} | {'occluded':>8}" for i in range(len(paths)))
    lines = [*(f"ckpt {i + 1}: {p}" for i, p in enumerate(paths)), header, "-" * len(header)]
    for k in counts:
        cells = " | ".join(f"{table[p][k]['all']:12.1f} | {table[p][k]['occluded']:8.1f}" for p in paths)
        lines.append(f"{k} | {cells}")
    return "\n".join(lines)


def plot_sweep(table: dict[str, dict[int, dict[str, float]]], path: str) -> str:
    """Draw PCK (all joints) against the number of occluded joints, one line per checkpoint (Figure 8).

    Writes ``path`` (needs matplotlib, ``pip install posemods[viz]``) or, without it, ``path`` with a
    ``.csv`` suffix; returns what it wrote.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        out = str(Path(path).with_suffix(".csv"))
        rows = ["checkpoint,occluded_joints,pck_all,pck_occluded"]
        rows += [f"{p},{k},{v['all']:.4f},{v['occluded']:.4f}" for p, ks in table.items() for k, v in ks.items()]
        Path(out).write_text("\n".join(rows) + "\n")
        return out
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    for p, ks in table.items():
        ax.plot(list(ks), [v["all"] for v in ks.values()], marker="o", label=Path(p).parent.name or p)
    ax.set_xticks(sorted({k for ks in table.values() for k in ks}))  # counts are whole joints
    ax.set_xlabel("occluded joints")
    ax.set_ylabel("PCK (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return path


def main(argv: list[str] | None = None, prog: str = "python -m posemods.evaluate") -> dict[str, PCK]:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkpoint", nargs="+", help="checkpoints written by python -m posemods.train (e.g. OUT/last.pt)"
    )
    parser.add_argument(
        "--eval-mode", choices=("auto", *EVAL_MODES), default="auto",
        help="video: each test video whole, frame by frame through the model's stream (initializer on frame 1 "
        "only); clips: the evaluation clips, each restarting the recursion; auto: video for recursive models",
    )  # fmt: skip
    parser.add_argument(
        "--occlusion-sweep", type=parse_counts, metavar="K", default=None,
        help="KIMNet Figure 8: score with K occluded joints, e.g. 1-9; prints a table and draws --plot",
    )  # fmt: skip
    parser.add_argument("--occlusion-mode", choices=("temporal", "spatial"), default="spatial",
                        help="temporal: one random frame; spatial: frames 2..T (KIMNet 4.5.1)")  # fmt: skip
    parser.add_argument("--occlusion-size", type=float, default=40.0, help="mask side in original-image pixels")
    parser.add_argument("--plot", default="occlusion_sweep.png", help="where the sweep's figure goes")
    parser.add_argument(
        "--protocol", choices=PCK_PROTOCOLS, default="lstmpm",
        help="lstmpm: LSTM Pose Machines' PCK (the default); rpstn: the RPSTN authors' test, one clip per "
        "test video, PCK from heatmaps (Penn Action or synthetic data; see posemods.metrics.protocol)",
    )  # fmt: skip
    add_arguments(parser, OVERRIDES, overrides_only=True)
    namespace = parser.parse_args(argv)
    check_arguments(parser, namespace)
    args = vars(namespace)
    setup_logging()
    paths = args.pop("checkpoint")
    for path in paths:
        if not os.path.isfile(path):
            parser.error(f"argument checkpoint: no such file {path!r}")
    _check_protocol(parser, args)
    try:
        return _evaluate(paths, args)
    except CheckpointError as error:  # the file is what is wrong: say so, without a traceback
        parser.exit(1, f"{parser.prog}: error: {error}\n")


def _check_protocol(parser: argparse.ArgumentParser, args: dict) -> None:
    """``parser.error`` for flags the RPSTN protocol cannot honour (it has one evaluation of its own)."""
    if args["protocol"] != "rpstn":
        return
    from posemods.training.rpstn_eval import RPSTN_DATASETS

    if args.get("normalize") == "person":
        parser.error(
            "argument --normalize: --protocol rpstn normalises by the torso only (their test's normTorso=True)"
        )
    if args.get("data") not in (None, *RPSTN_DATASETS):
        parser.error(f"argument --data: --protocol rpstn scores {' or '.join(RPSTN_DATASETS)}, got {args['data']}")
    for flag, value in (("eval_mode", args["eval_mode"]), ("occlusion_sweep", args["occlusion_sweep"])):
        if value not in (None, "auto"):
            parser.error(f"argument --{flag.replace('_', '-')}: not with --protocol rpstn (one clip per test video)")


def _evaluate(paths: list[str], args: dict) -> dict:
    protocol = args.pop("protocol")
    eval_mode = args.pop("eval_mode")
    counts, mode = args.pop("occlusion_sweep"), args.pop("occlusion_mode")
    size, plot = args.pop("occlusion_size"), args.pop("plot")
    if counts is not None:
        table = occlusion_sweep(paths, counts, mode, size, eval_mode, **args)
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"PCK with 1..{max(counts)} joints occluded ({mode}, {size:g} px masks)\n" + sweep_table(table))
            print(f"wrote {plot_sweep(table, plot)}")
        return table
    results = {}
    for path in paths:
        results[path] = _score_and_print(path, eval_mode, args, protocol)
    return results[paths[0]] if len(paths) == 1 else results


def _score_and_print(path: str, eval_mode: str, args: dict, scoring: str = "lstmpm") -> dict[str, PCK]:
    metrics, config = score_checkpoint(path, eval_mode=eval_mode, protocol=scoring, **args)
    if scoring == "rpstn":
        if int(os.environ.get("RANK", "0")) == 0:
            from posemods.metrics.rpstn import describe_rpstn_protocol

            variant = config.variant or get_model_spec(config.model).default_variant
            print(f"{config.model} ({variant}, {config.preset}) on {config.data}")
            print(describe_rpstn_protocol(config.data, metrics["rpstn"].skeleton, config.alpha))
            print(per_joint_table(metrics))
        return metrics
    if int(os.environ.get("RANK", "0")) == 0:
        variant = config.variant or get_model_spec(config.model).default_variant
        print(f"{config.model} ({variant}, {config.preset}) on {config.data}: "
              f"PCK@{config.alpha}, normalised by {config.normalize} size")  # fmt: skip
        layout = next(iter(metrics.values())).skeleton
        protocol = get_dataset_spec(config.data).protocol
        print(describe_protocol(protocol, layout, config.normalize, config.alpha, data=config.data))
        if eval_mode == "auto":  # the registry's clip models are the recursive ones
            eval_mode = "video" if get_model_spec(config.model).output == "clip" else "clips"
        print(f"  evaluation: {eval_mode} (video: each test video streamed whole from frame 1)")
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

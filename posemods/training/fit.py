"""A whole training run: set up, resume, train epoch by epoch, evaluate, checkpoint.

:func:`fit` is what ``python -m posemods.train`` calls; examples call it directly. It is made of
steps that can be called and tested one by one: :func:`resolve_resume` (which checkpoint, if any),
:func:`build_run` (data, model, optimizer, schedule, restored state), :func:`train_epoch`,
:func:`evaluate_epoch` and :func:`save_run`. A :class:`Run` carries the state between them.

It reports through :mod:`logging` (``posemods.training.fit``): a start banner, a line per epoch, the
PCK tables and a final summary at INFO, settings that break an exact resume at WARNING. The library
configures no handler; the CLIs do (:func:`posemods.training.config.setup_logging`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from posemods.models import ModelSpec, get_model_spec
from posemods.skeletons import GROUP_NAMES, Skeleton
from posemods.training import distributed
from posemods.training.checkpoint import (
    load_model_state,
    read_checkpoint,
    remove_stale_temporary,
    rng_state,
    save_checkpoint,
    save_weights,
    set_rng_state,
    weights_path,
)
from posemods.training.config import TrainConfig
from posemods.training.datasets import build_datasets, dataset_protocol
from posemods.training.loop import eval_loader, evaluate, restore_schedule, train_step
from posemods.training.posetrack_eval import posetrack_map_of, predict_key_frames
from posemods.training.recipes import build_optimizer
from posemods.training.registry import build_model

logger = logging.getLogger(__name__)


def _progress(enabled: bool):
    """tqdm when enabled, else the identity."""
    if not enabled:
        return lambda iterable, **_: iterable
    from tqdm.auto import tqdm

    return lambda iterable, **kwargs: tqdm(iterable, dynamic_ncols=True, **kwargs)


def summarize(metrics: dict) -> dict[str, float]:
    """The mean of every PCK, plus its group columns, flattened for logging."""
    out = {}
    for name, metric in metrics.items():
        for column, value in metric.compute().items():
            if column in (*metric.skeleton.groups, "Mean"):
                out[f"{name}/{column}"] = value
    return out


# Settings that do not change what is computed, so a resumed run may change them freely.
_RUN_ONLY = ("resume", "max_steps", "save_every", "progress", "threads", "workers", "device", "out")


# What resuming reads from a checkpoint.
RESUME_FIELDS = ("config", "model", "optimizer", "scheduler", "rng", "epoch", "step", "epoch_step", "epoch_losses",
                 "history")  # fmt: skip


def _changed_settings(saved: dict, current: dict) -> dict:
    return {k: (saved.get(k), v) for k, v in current.items() if k not in _RUN_ONLY and saved.get(k) != v}


@dataclasses.dataclass
class Run:
    """One run's pieces and its position; :func:`build_run` makes it, the epoch steps advance it.

    ``epoch`` and ``epoch_step`` say where the next step starts (``epoch_step`` steps of epoch ``epoch``
    are done), ``step`` counts optimizer steps in total, ``losses`` are this epoch's so far.
    """

    config: TrainConfig
    context: distributed.Context
    spec: ModelSpec
    train_set: Dataset
    eval_set: Dataset
    layout: Skeleton
    model: torch.nn.Module
    train_model: torch.nn.Module  # the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    sampler: DistributedSampler
    per_process: int
    steps_per_epoch: int
    epoch: int = 0
    epoch_step: int = 0
    step: int = 0
    history: list = dataclasses.field(default_factory=list)
    losses: list = dataclasses.field(default_factory=list)

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def checkpoint(self) -> Path:
        return self.out / "last.pt"

    @property
    def reached_max_steps(self) -> bool:
        return self.config.max_steps is not None and self.step >= self.config.max_steps

    @property
    def done(self) -> bool:
        return self.epoch >= self.config.epochs or self.reached_max_steps


def _resume_path(config: TrainConfig) -> str | None:
    if config.resume == "auto":
        last = Path(config.out) / "last.pt"
        return str(last) if last.is_file() else None
    return config.resume


def resolve_resume(config: TrainConfig, context: distributed.Context | None = None) -> tuple[str | None, dict | None]:
    """The checkpoint to resume from and its contents, or ``(None, None)`` for a fresh run.

    ``resume="auto"`` takes ``OUT/last.pt`` when it exists (a fresh run otherwise). Settings changed
    since the checkpoint, other than the run-only ones (threads, device, ...), are logged as a warning:
    the run goes on, but is not an exact continuation.
    """
    if (context is None or context.is_main) and remove_stale_temporary(Path(config.out) / "last.pt"):
        logger.warning("removed %s: a save interrupted by a killed run", Path(config.out) / "last.pt.tmp")
    resume = _resume_path(config)
    if not resume:
        return None, None
    state = read_checkpoint(resume, require=RESUME_FIELDS)
    if context is None or context.is_main:
        changed = _changed_settings(state["config"], config.to_dict())
        if changed:
            logger.warning("resuming %s with changed settings %s: not an exact continuation", resume, changed)
    return resume, state


def build_run(
    config: TrainConfig,
    context: distributed.Context,
    datasets: tuple[Dataset, Dataset, Skeleton] | None = None,
    state: dict | None = None,
) -> Run:
    """Data, model, optimizer and schedule of ``config``, seeded, restored from ``state`` when given."""
    spec = get_model_spec(config.model)
    train_set, eval_set, layout = datasets if datasets is not None else build_datasets(config, spec)
    per_process = config.batch_size // context.world_size
    if per_process * context.world_size != config.batch_size or per_process % config.accumulate:
        raise ValueError(
            f"batch_size: {config.batch_size} clips must split into {context.world_size} processes x "
            f"{config.accumulate} micro-batches"
        )
    steps_per_epoch = len(train_set) // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size: {config.batch_size} is more than the {len(train_set)} training clips")

    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    model, _ = build_model(config, layout.num_joints)
    model.to(context.device)
    optimizer, schedule = build_optimizer(model, config, config.epochs * steps_per_epoch, steps_per_epoch)
    if state is None:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    else:
        # Another model's weights (or this model's at other settings) get a ValueError saying which.
        load_model_state(model, state, _resume_path(config) or "the resumed checkpoint", config.to_dict())
        optimizer.load_state_dict(state["optimizer"])
        scheduler = restore_schedule(optimizer, state["scheduler"], config.lr, config.weight_decay, schedule)
        set_rng_state(state["rng"])
    train_model = model
    if context.distributed:
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    # The data order is a function of (seed, epoch): DistributedSampler's, for 1 process too.
    sampler = DistributedSampler(
        train_set, num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=config.seed, drop_last=True
    )
    run = Run(
        config, context, spec, train_set, eval_set, layout, model, train_model, optimizer, scheduler, sampler,
        per_process, steps_per_epoch,
    )  # fmt: skip
    if state is not None:
        run.epoch, run.epoch_step, run.step = state["epoch"], state["epoch_step"], state["step"]
        run.history, run.losses = list(state["history"]), list(state["epoch_losses"])
    return run


def save_run(run: Run) -> Path:
    """Checkpoint ``run`` where it stands to ``OUT/last.pt``, and its weights to ``OUT/last.safetensors``
    (rank 0 writes; every rank waits). Why both: :mod:`posemods.training.checkpoint`."""
    if run.context.is_main:
        save_checkpoint(
            run.checkpoint,
            config=run.config.to_dict(),
            model_config=run.model.model_config,
            model=run.model.state_dict(),
            optimizer=run.optimizer.state_dict(),
            scheduler=run.scheduler.state_dict(),
            rng=rng_state(),
            epoch=run.epoch,
            step=run.step,
            epoch_step=run.epoch_step,
            epoch_losses=run.losses if run.epoch_step else [],
            history=run.history,
            world_size=run.context.world_size,
        )
        save_weights(weights_path(run.checkpoint), run.model)
    distributed.barrier(run.context)
    return run.checkpoint


def train_epoch(run: Run, progress=None) -> bool:
    """Train the rest of epoch ``run.epoch``; return whether the epoch is complete.

    Stops early (returning ``False``) at ``max_steps``; checkpoints every ``save_every`` steps.
    """
    config, context = run.config, run.context
    progress = _progress(False) if progress is None else progress
    run.sampler.set_epoch(run.epoch)
    train_set_epoch = getattr(run.train_set, "set_epoch", None)
    if train_set_epoch is not None:
        train_set_epoch(run.epoch)
    # Resuming mid-epoch skips the clips of the steps already taken, without loading them.
    indices = list(run.sampler)[run.epoch_step * run.per_process :]
    loader = DataLoader(
        run.train_set,
        batch_size=run.per_process,
        sampler=indices,
        drop_last=True,
        num_workers=config.workers,
        # Its own generator: DataLoader draws a seed per epoch, which must not move torch's RNG.
        generator=torch.Generator().manual_seed(config.seed),
    )
    desc = f"epoch {run.epoch + 1}/{config.epochs}"
    bar = progress(loader, desc=desc, initial=run.epoch_step, total=run.steps_per_epoch)
    for clips in bar:
        loss = train_step(
            run.train_model, run.spec, clips, run.optimizer, config.accumulate, config.grad_clip, context.device
        )
        run.losses.append(loss)
        run.scheduler.step()
        run.step += 1
        run.epoch_step += 1
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss:.2e}", lr=f"{run.scheduler.get_last_lr()[0]:.1e}")
        if run.reached_max_steps:
            break
        if config.save_every and run.step % config.save_every == 0:
            save_run(run)
    return run.epoch_step >= run.steps_per_epoch


def evaluate_epoch(run: Run, progress=None, scores: dict | None = None) -> dict[str, float]:
    """Score the evaluation set (every rank scores its share); returns the flattened record entries.

    Logs each PCK table at INFO on rank 0. On PoseTrack the record holds poseval's mAP too.
    """
    config, context = run.config, run.context
    progress = _progress(False) if progress is None else progress
    distributed.broadcast_buffers(run.model, context)  # score the model rank 0 saves, on every rank
    evaluation = eval_loader(run.eval_set, run.per_process, context, config.workers)
    metrics = evaluate(
        run.model, run.spec, progress(evaluation, desc="evaluate", leave=False), run.layout, context,
        config.alpha, config.normalize, scores,
    )  # fmt: skip
    record = summarize(metrics)
    if dataset_protocol(config).posetrack_map:
        predictions = predict_key_frames(run.model, run.spec, run.eval_set, context, run.per_process)
        average_precision = posetrack_map_of(predictions, config.data_root, Path(config.annotations) / "val")
        record.update({f"mAP/{c}": average_precision[c] for c in (*GROUP_NAMES, "Mean")})
    if context.is_main:
        for name, metric in metrics.items():
            logger.info(
                "epoch %d PCK@%s (%s, %s joints)\n%s", run.epoch + 1, metric.alpha, config.normalize, name,
                metric.table(),
            )  # fmt: skip
    return record


def _log_banner(run: Run, resume: str | None) -> None:
    config, context = run.config, run.context
    parameters = sum(p.numel() for p in run.model.parameters())
    variant = config.variant or run.spec.default_variant
    height, width = config.input_size
    logger.info(
        "posemods.train: %s (%s, %s), %.2f M parameters; data %s: %d training / %d evaluation clips of "
        "%d frames at %d x %d (H x W), %d steps per epoch; device %s x %d process%s; output %s",
        config.model, variant, config.preset, parameters / 1e6, config.data, len(run.train_set),
        len(run.eval_set), config.clip_length, height, width, run.steps_per_epoch, context.device,
        context.world_size, "" if context.world_size == 1 else "es", run.out,
    )  # fmt: skip
    if resume is not None:
        logger.info("resuming %s at epoch %d, step %d", resume, run.epoch + 1, run.step)


def _epoch_line(record: dict, epochs: int) -> str:
    means = ", ".join(f"{k} {v:.1f}" for k, v in record.items() if k.endswith("/Mean"))
    line = (
        f"epoch {record['epoch']}/{epochs}: step {record['step']}, train loss {record['train_loss']:.3e}, "
        f"{record['train_seconds']:.1f} s"
    )
    return f"{line}, {means}" if means else line


def fit(
    config: TrainConfig, datasets: tuple[Dataset, Dataset, Skeleton] | None = None, scores: dict | None = None
) -> dict:
    """Train as ``config`` says and return ``{"history": [per-epoch metrics], "step": ..., "model": model,
    "checkpoint": path}``.

    ``datasets`` overrides :func:`~posemods.training.datasets.build_datasets` (e.g. a cached set
    shared by several runs); ``scores`` overrides what the evaluation reports (see
    :func:`~posemods.training.loop.evaluate`). Launched by torchrun, it trains with DDP.
    """
    context = distributed.setup(config.device)
    try:
        return _fit(config, context, datasets, scores)
    finally:
        distributed.teardown(context)


def _fit(config: TrainConfig, context: distributed.Context, datasets, scores) -> dict:
    if config.threads:
        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    resume, state = resolve_resume(config, context)
    run = build_run(config, context, datasets, state)
    main = context.is_main
    if main:
        _log_banner(run, resume)
    progress = _progress(config.progress and main)
    first_step = run.step
    while not run.done:
        start = time.perf_counter()
        if not train_epoch(run, progress):  # stopped mid-epoch
            save_run(run)
            break
        record = {
            "epoch": run.epoch + 1,
            "step": run.step,
            "train_loss": float(np.mean(run.losses)) if run.losses else float("nan"),
            "train_seconds": time.perf_counter() - start,
        }
        if config.evaluate_every_epoch:
            record.update(evaluate_epoch(run, progress, scores))
        run.history.append(record)
        if main:
            run.out.mkdir(parents=True, exist_ok=True)
            with open(run.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            logger.info(_epoch_line(record, config.epochs))
        run.epoch, run.epoch_step, run.losses = run.epoch + 1, 0, []
        save_run(run)
    if main:
        checkpoint = f"checkpoint {run.checkpoint}" if run.checkpoint.is_file() else "no checkpoint written"
        logger.info(
            "done: %d steps this run (%d in total) in %.1f s; %s",
            run.step - first_step, run.step, time.perf_counter() - started, checkpoint,
        )  # fmt: skip
    return {
        "history": run.history,
        "step": run.step,
        "model": run.model,
        "context": context,
        "checkpoint": run.checkpoint,
    }

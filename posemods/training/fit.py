"""A whole training run: set up, resume, train epoch by epoch, evaluate, checkpoint.

:func:`fit` is what ``python -m posemods.train`` calls; examples call it directly.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from posemods.skeletons import GROUP_NAMES, Skeleton
from posemods.training import distributed
from posemods.training.checkpoint import (
    load_checkpoint,
    load_model_state,
    remove_stale_temporary,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from posemods.training.config import TrainConfig
from posemods.training.datasets import build_datasets
from posemods.training.loop import WarmupCosine, evaluate, restore_schedule, train_step
from posemods.training.posetrack_eval import posetrack_map_of, predict_key_frames
from posemods.training.registry import ModelSpec, get_model_spec


def _progress(enabled: bool):
    """tqdm when enabled, else the identity."""
    if not enabled:
        return lambda iterable, **_: iterable
    from tqdm.auto import tqdm

    return lambda iterable, **kwargs: tqdm(iterable, dynamic_ncols=True, **kwargs)


def build_model(config: TrainConfig, num_joints: int) -> tuple[torch.nn.Module, ModelSpec]:
    spec = get_model_spec(config.model)
    model = spec.create(
        num_joints, config.variant, config.preset, config.input_size, config.clip_length, **config.model_kwargs
    )
    return model, spec


def eval_loader(dataset: Dataset, batch_size: int, context: distributed.Context, workers: int = 0) -> DataLoader:
    """Every process scores the items ``rank, rank + N, ...``: each item exactly once in total."""
    shard = Subset(dataset, range(context.rank, len(dataset), context.world_size))
    return DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=workers)


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


def fit(
    config: TrainConfig, datasets: tuple[Dataset, Dataset, Skeleton] | None = None, scores: dict | None = None
) -> dict:
    """Train as ``config`` says and return ``{"history": [per-epoch metrics], "step": ..., "model": model}``.

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
    out = Path(config.out)
    resume = config.resume
    if resume == "auto":
        resume = str(out / "last.pt") if (out / "last.pt").is_file() else None
    if context.is_main and remove_stale_temporary(out / "last.pt"):
        print(f"removed {out / 'last.pt.tmp'}: a save interrupted by a killed run")
    state = load_checkpoint(resume, require=RESUME_FIELDS) if resume else None
    if state is not None and context.is_main:
        changed = _changed_settings(state["config"], config.to_dict())
        if changed:
            print(f"warning: resuming {resume} with changed settings {changed}: not an exact continuation")

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
    total_steps = config.epochs * steps_per_epoch

    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    model, _ = build_model(config, layout.num_joints)
    model.to(context.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = WarmupCosine(config.warmup_steps, total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    epoch, epoch_step, step, history, losses = 0, 0, 0, [], []
    if state is not None:
        load_model_state(model, state, resume, config.to_dict())
        optimizer.load_state_dict(state["optimizer"])
        restore_schedule(optimizer, scheduler, state["scheduler"], config.lr, config.weight_decay, schedule)
        set_rng_state(state["rng"])
        epoch, epoch_step, step, history = state["epoch"], state["epoch_step"], state["step"], state["history"]
        losses = list(state["epoch_losses"])
    train_model = model
    if context.distributed:
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    # The data order is a function of (seed, epoch): DistributedSampler's, for 1 process too.
    sampler = DistributedSampler(
        train_set, num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=config.seed, drop_last=True
    )
    progress = _progress(config.progress and context.is_main)
    evaluation = eval_loader(eval_set, per_process, context, config.workers)

    def save(at_epoch: int, at_epoch_step: int) -> None:
        if context.is_main:
            save_checkpoint(
                out / "last.pt",
                config=config.to_dict(),
                model=model.state_dict(),
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                rng=rng_state(),
                epoch=at_epoch,
                step=step,
                epoch_step=at_epoch_step,
                epoch_losses=losses if at_epoch_step else [],
                history=history,
                world_size=context.world_size,
            )
        distributed.barrier(context)

    stop = config.max_steps is not None and step >= config.max_steps
    while epoch < config.epochs and not stop:
        sampler.set_epoch(epoch)
        train_set_epoch = getattr(train_set, "set_epoch", None)
        if train_set_epoch is not None:
            train_set_epoch(epoch)
        # Resuming mid-epoch skips the clips of the steps already taken, without loading them.
        indices = list(sampler)[epoch_step * per_process :]
        loader = DataLoader(
            train_set,
            batch_size=per_process,
            sampler=indices,
            drop_last=True,
            num_workers=config.workers,
            # Its own generator: DataLoader draws a seed per epoch, which must not move torch's RNG.
            generator=torch.Generator().manual_seed(config.seed),
        )
        start = time.perf_counter()
        bar = progress(loader, desc=f"epoch {epoch + 1}/{config.epochs}", initial=epoch_step, total=steps_per_epoch)
        for clips in bar:
            losses.append(
                train_step(train_model, spec, clips, optimizer, config.accumulate, config.grad_clip, context.device)
            )
            scheduler.step()
            step += 1
            epoch_step += 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{losses[-1]:.2e}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
            if config.max_steps is not None and step >= config.max_steps:
                stop = True
                break
            if config.save_every and step % config.save_every == 0:
                save(epoch, epoch_step)
        if epoch_step < steps_per_epoch:  # stopped mid-epoch
            save(epoch, epoch_step)
            break
        record = {"epoch": epoch + 1, "step": step, "train_loss": float(np.mean(losses)) if losses else float("nan")}
        record["train_seconds"] = time.perf_counter() - start
        if config.evaluate_every_epoch:
            distributed.broadcast_buffers(model, context)  # score the model rank 0 saves, on every rank
            metrics = evaluate(
                model, spec, progress(evaluation, desc="evaluate", leave=False), layout, context,
                config.alpha, config.normalize, scores,
            )  # fmt: skip
            record.update(summarize(metrics))
            if config.data == "posetrack":
                predictions = predict_key_frames(model, spec, eval_set, context, per_process)
                average_precision = posetrack_map_of(predictions, config.data_root, Path(config.annotations) / "val")
                record.update({f"mAP/{c}": average_precision[c] for c in (*GROUP_NAMES, "Mean")})
            if context.is_main:
                for name, metric in metrics.items():
                    print(f"epoch {epoch + 1} PCK@{metric.alpha} ({config.normalize}, {name} joints)\n{metric.table()}")
        history.append(record)
        if context.is_main:
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
        epoch, epoch_step, losses = epoch + 1, 0, []
        save(epoch, 0)
    return {"history": history, "step": step, "model": model, "context": context}

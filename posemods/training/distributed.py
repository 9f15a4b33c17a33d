"""Running under ``torchrun``: the process group, the device, and sums across processes.

The same script runs alone or as ``torchrun --nproc_per_node=N -m posemods.train ...``: torchrun
sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``, and :func:`setup` then joins the process group
with NCCL on GPUs or gloo on CPUs. Only PyTorch's own engine is used.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class Context:
    """Where this process runs: ``rank`` of ``world_size`` processes, on ``device``."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Context:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), and pick the device.

    ``device``: ``"auto"`` takes CUDA when available (one GPU per process, by ``LOCAL_RANK``).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("device: 'cuda' was asked for but torch sees no CUDA device; use device='cpu' or 'auto'")
    target = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(target)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Context(rank, world_size, target)


def teardown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, context: Context) -> torch.Tensor:
    """Sum ``tensor`` over the processes in place (on the process group's device) and return it."""
    if not context.distributed:
        return tensor
    moved = tensor.to(context.device)
    dist.all_reduce(moved, op=dist.ReduceOp.SUM)
    tensor.copy_(moved.to(tensor.device))
    return tensor


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def broadcast_buffers(model: torch.nn.Module, context: Context) -> None:
    """Give every process rank 0's buffers (BatchNorm running statistics).

    DDP copies rank 0's buffers at the start of each forward, so after the last training step every
    process holds statistics updated with its own micro-batch. Evaluating then would score N slightly
    different models, none of them the checkpoint rank 0 saves.
    """
    if context.distributed:
        for buffer in model.buffers():
            torch.distributed.broadcast(buffer, src=0)

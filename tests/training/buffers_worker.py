"""Run under torchrun with 2 processes: each gives a BatchNorm its own running statistics, then
broadcast_buffers; rank 0 writes whether they differed before and agree after. Used by test_ddp.py."""

import json
import sys

import torch

from posemods.training import distributed


def gathered(tensor: torch.Tensor) -> list[torch.Tensor]:
    out = [torch.empty_like(tensor) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(out, tensor)
    return out


context = distributed.setup("cpu")
norm = torch.nn.BatchNorm1d(3)
norm(torch.randn(8, 3, generator=torch.Generator().manual_seed(context.rank)) + context.rank)  # rank-own stats
before = gathered(norm.running_mean.clone())
distributed.broadcast_buffers(norm, context)
after = gathered(norm.running_mean.clone()) + gathered(norm.running_var.clone())
if context.is_main:
    report = {
        "differed_before": not torch.equal(before[0], before[1]),
        "agree_after": all(torch.equal(after[0], t) for t in after[:2])
        and all(torch.equal(after[2], t) for t in after[2:]),
    }
    with open(sys.argv[1], "w") as f:
        json.dump(report, f)
distributed.teardown(context)

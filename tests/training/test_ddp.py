"""DDP on 2 CPU processes (gloo, launched by torch.distributed.run) equals one process on the same global batch.

DDP averages the gradients of the 2 processes, each computed with BatchNorm over its own half of the
batch; one process with ``--accumulate 2`` computes the same thing on the same halves (train_step
documents the interleaving), so after a few AdamW steps the parameters must agree to rounding.
BatchNorm running statistics differ by design (DDP broadcasts rank 0's at each forward) and are not
compared; before evaluating, fit() gives every rank rank 0's, tested directly below.
"""

import json
import subprocess
import sys

from posemods.evaluate import score_checkpoint
from posemods.training.fit import summarize
from tests.training.cli import ROOT, env, train

STEPS = ["--epochs", "1", "--max-steps", "3", "--no-evaluate-every-epoch"]
TORCHRUN = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")


def _parameters(state: dict) -> dict:
    return {
        k: v
        for k, v in state["model"].items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }


def test_ddp_on_two_gloo_processes_matches_one_process(tmp_path):
    # 3 steps are one whole epoch, so the DDP run evaluates at its end (evaluation changes no parameter).
    ddp = train(tmp_path / "ddp", *[s for s in STEPS if s != "--no-evaluate-every-epoch"], launcher=TORCHRUN)
    single = train(tmp_path / "single", *STEPS, "--accumulate", "2")
    whole = train(tmp_path / "whole", *STEPS)  # BatchNorm over all 4 clips: a different computation

    assert ddp["step"] == single["step"] == 3
    assert (ddp["world_size"], single["world_size"]) == (2, 1)
    ddp_params, single_params, whole_params = _parameters(ddp), _parameters(single), _parameters(whole)
    worst = max((ddp_params[k] - single_params[k]).abs().max().item() for k in ddp_params)
    assert worst < 1e-5, f"DDP and one process differ by {worst}"
    moved = max((whole_params[k] - single_params[k]).abs().max().item() for k in ddp_params)
    print(f"DDP vs one process: max |diff| {worst:.2e}; vs BatchNorm over the whole batch: {moved:.2e}")
    assert moved > 100 * max(worst, 1e-8), "the comparison cannot tell different computations apart"

    # The logged epoch PCK is what scoring the saved checkpoint in one process gives.
    logged = {k: v for k, v in ddp["history"][-1].items() if "/" in k}  # e.g. "visible/Mean"
    rescored = summarize(score_checkpoint(str(tmp_path / "ddp" / "last.pt"), progress=False)[0])
    assert logged and logged == {k: v for k, v in rescored.items() if k in logged}


def test_broadcast_buffers_gives_every_rank_rank_0s_statistics(tmp_path):
    report = tmp_path / "report.json"
    worker = ROOT / "tests" / "training" / "buffers_worker.py"
    subprocess.run(
        [sys.executable, *TORCHRUN, str(worker), str(report)], cwd=ROOT, env=env(), check=True, timeout=300,
        capture_output=True,
    )  # fmt: skip
    assert json.loads(report.read_text()) == {"differed_before": True, "agree_after": True}

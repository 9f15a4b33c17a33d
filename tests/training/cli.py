"""Run the CLIs in fresh processes, as a user would, on the tiny synthetic setting."""

import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]

# Tiny KIMNet, 32 x 32 frames, T = 3, 12 training clips in batches of 4: 3 steps per epoch.
TINY = [
    "--model", "kimnet", "--variant", "kmm", "--preset", "tiny", "--input-size", "32", "32",
    "--clip-length", "3", "--train-clips", "12", "--eval-clips", "4", "--batch-size", "4",
    "--occluders", "1", "--occluder-size", "8", "--warmup-steps", "2", "--lr", "1e-3",
    "--no-progress", "--threads", "1",
]  # fmt: skip


def env() -> dict:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    out["OMP_NUM_THREADS"] = "1"
    return out


def run(*args: str, launcher: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``python [launcher...] -m <args>``; raises with the output on failure."""
    cmd = [sys.executable, *launcher, "-m", *args]
    result = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def train(out: Path, *extra: str, launcher: tuple[str, ...] = ()) -> dict:
    run("posemods.train", *TINY, "--out", str(out), *extra, launcher=launcher)
    return torch.load(out / "last.pt", map_location="cpu", weights_only=True)


def untrained_checkpoint(path: Path, **fields) -> Path:
    """A checkpoint as fit writes it (with the weights file beside it), of an untrained model of the
    ``TrainConfig`` ``fields``: what evaluate and visualize read, without the cost of training."""
    from posemods.data import get_dataset_spec
    from posemods.training import TrainConfig, build_model
    from posemods.training.checkpoint import save_checkpoint, save_weights, weights_path

    config = TrainConfig(**{"progress": False, "threads": 1, **fields})
    torch.manual_seed(0)
    model, _ = build_model(config, get_dataset_spec(config.data).skeleton.num_joints)
    save_checkpoint(path, config=config.to_dict(), model_config=model.model_config, model=model.state_dict())
    save_weights(weights_path(path), model)
    return path

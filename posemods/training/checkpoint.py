"""Training checkpoints that resume exactly: weights, optimizer, schedule, every RNG, and the position.

A checkpoint is one ``torch.save`` of plain data, readable with ``weights_only=True``:

===============  =================================================================================
``format``       :data:`FORMAT`
``config``       the run's :class:`~posemods.training.TrainConfig` as a dict (builds the model again)
``model``        the model's state_dict (never DDP-wrapped: no ``module.`` prefix)
``optimizer``    the optimizer's state_dict
``scheduler``    the learning-rate scheduler's state_dict
``rng``          python, numpy, torch CPU (and CUDA) generator states
``epoch``        the epoch in progress
``step``         optimizer steps done in total
``epoch_step``   optimizer steps done in ``epoch`` (the data order skips them on resume)
``epoch_losses`` their losses, so the epoch's logged mean covers the whole epoch
``history``      the metrics logged after each finished epoch
``world_size``   processes that trained it (information only: resuming on another count works)
===============  =================================================================================

The data order needs no state of its own: it is a function of ``(seed, epoch)``. Because
:func:`posemods.models.read_state_dict` unwraps the ``model`` key, any model's ``checkpoint=``
argument also accepts one of these files.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

#: Format 2: models normalise their [0, 1] frames themselves. Format-1 weights were trained on raw
#: frames, so loading them into today's models would silently score them on different inputs.
FORMAT = "posemods-train-2"
_OUTDATED = {"posemods-train-1": "it was written before models normalised their input frames, so its weights "
             "expect raw [0, 1] pixels; train it again with this version"}  # fmt: skip


def rng_state() -> dict:
    """Every global generator's state, as plain data (numpy's key array becomes a tensor)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, **fields) -> None:
    """Write a checkpoint atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **fields}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors on the CPU)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint: no such file {os.fspath(path)!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and state.get("format") in _OUTDATED:
        raise ValueError(f"checkpoint {os.fspath(path)!r}: {_OUTDATED[state['format']]}")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"checkpoint {os.fspath(path)!r}: expected format {FORMAT!r}, got {found!r}")
    return state

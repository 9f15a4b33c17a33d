"""Training checkpoints that resume exactly: weights, optimizer, schedule, every RNG, and the position.

A checkpoint is one ``torch.save`` of plain data, readable with ``weights_only=True``:

===============  =================================================================================
``format``       :data:`FORMAT`
``config``       the run's :class:`~posemods.training.TrainConfig` as a dict
``model_config`` the :func:`posemods.create_model` arguments that build the model again (since this
                 field exists; :func:`load_model` reads older checkpoints' ``config`` instead)
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
``sha256``       the digest of all the above (:func:`posemods._serialization.payload_digest`): a file
                 whose bytes changed is refused
===============  =================================================================================

The data order needs no state of its own: it is a function of ``(seed, epoch)``. Because
:func:`posemods.models.read_state_dict` unwraps the ``model`` key, any model's ``checkpoint=``
argument also accepts one of these files.

Beside each checkpoint ``NAME.pt``, :func:`save_weights` writes ``NAME.safetensors``: the model's
weights alone, with its ``model_config`` and the weights' digest in the metadata. Why both: the
checkpoint is what resuming needs (optimizer, schedule, RNG: plain data that only ``torch.load`` reads),
while the weights file is what the ecosystem loads and shares: timm's ``load_checkpoint`` and the
Hugging Face Hub read safetensors, which holds tensors and strings only (nothing is unpickled),
memory-maps them, and is read from other languages. ``safetensors`` is already installed with timm, so
it costs no new dependency; the price is a second copy of the weights on disk (about a third of the
checkpoint with AdamW's two moments) and its write at every save. :func:`load_model` reads either file
and builds the model from the configuration stored in it.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import nn

from posemods._serialization import (
    DIGEST_KEY,
    SAFETENSORS_SUFFIX,
    CheckpointError,
    encode_safetensors,
    is_safetensors,
    load_file,
    payload_digest,
    read_safetensors,
    verify_digest,
)
from posemods.models import create_model
from posemods.training.registry import saved_model_config

#: Format 2: models normalise their [0, 1] frames themselves. Format-1 weights were trained on raw
#: frames, so loading them into today's models would silently score them on different inputs.
FORMAT = "posemods-train-2"
#: The ``format`` in the metadata of the ``.safetensors`` weights :func:`save_weights` writes.
WEIGHTS_FORMAT = "posemods-weights-1"
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
    """Write a checkpoint atomically and durably, with the digest of its payload.

    A crash mid-write leaves the previous file intact: the payload goes to ``<path>.tmp``, which is
    flushed to disk (``fsync``) before ``os.replace`` renames it over ``path``, and the folder is
    fsynced after, so the rename itself survives a power cut (the rename is atomic, but without the
    fsyncs the new name can reach the disk before the data it points to). A temporary file that a
    killed run left behind is removed first; one from a failed write is removed on the way out.
    """
    payload = {"format": FORMAT, **fields}
    payload[DIGEST_KEY] = payload_digest(payload)
    _write_atomically(path, lambda f: torch.save(payload, f))


def weights_path(checkpoint: str | os.PathLike) -> Path:
    """Where :func:`save_weights` puts the weights of ``checkpoint``: ``last.pt`` -> ``last.safetensors``."""
    return Path(checkpoint).with_suffix(SAFETENSORS_SUFFIX)


def save_weights(path: str | os.PathLike, model: nn.Module) -> None:
    """Write ``model``'s weights to the safetensors file ``path``, atomically, as :func:`save_checkpoint`.

    The metadata holds :data:`WEIGHTS_FORMAT`, the model's ``model_config`` as JSON (what
    :func:`load_model` builds it from) and the weights' digest. ``model`` must come from
    :func:`posemods.create_model` (which records its ``model_config``).
    """
    config = getattr(model, "model_config", None)
    if not isinstance(config, dict):
        raise TypeError(f"model: expected a model built by posemods.create_model (it has no model_config), "
                        f"got {type(model).__name__}")  # fmt: skip
    try:
        metadata = {"format": WEIGHTS_FORMAT, "model_config": json.dumps(config)}
    except TypeError as error:
        raise ValueError(f"model_config: expected plain data (JSON) to store with the weights, {error}") from None
    data = encode_safetensors(model.state_dict(), metadata)
    _write_atomically(path, lambda f: f.write(data))


def _write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """``write(file)`` into ``<path>.tmp``, fsync it, rename it over ``path``, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    tmp.unlink(missing_ok=True)  # a killed run's stale, half-written file
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def temporary_path(path: str | os.PathLike) -> Path:
    """Where :func:`save_checkpoint` writes before the rename: ``<path>.tmp``."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


def remove_stale_temporary(path: str | os.PathLike) -> bool:
    """Remove the ``<path>.tmp`` a run killed mid-save left behind; True if there was one."""
    tmp = temporary_path(path)
    if tmp.is_file():
        tmp.unlink(missing_ok=True)
        return True
    return False


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a folder; its rename is durable on its own
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse to fsync a folder; nothing more can be done there
        pass
    finally:
        os.close(fd)


def read_checkpoint(path: str | os.PathLike, require: tuple[str, ...] = ()) -> dict:
    """The dict of a checkpoint written by :func:`save_checkpoint` (tensors on the CPU), its digest checked.

    Every problem is a ``ValueError`` naming the file (``FileNotFoundError`` when there is none): an
    empty, truncated, corrupt or foreign file; a file of another format or an outdated one; a payload
    whose digest does not match (flipped bytes); a checkpoint without one of the fields in ``require``.
    The returned dict no longer holds the digest.
    """
    name = os.fspath(path)
    state = load_file(path, "checkpoint")
    if isinstance(state, dict) and isinstance(state.get("format"), str) and state["format"] in _OUTDATED:
        raise CheckpointError(f"checkpoint {name!r}: {_OUTDATED[state['format']]}")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {name!r}: expected format {FORMAT!r}, got {found!r}")
    if state.get(DIGEST_KEY) is None:
        raise CheckpointError(
            f"checkpoint {name!r}: no payload digest ({DIGEST_KEY!r}), so its integrity cannot be checked; "
            "it was not written by posemods.training.save_checkpoint"
        )
    verify_digest(state, name)
    if "config" in state and not isinstance(state["config"], dict):
        raise CheckpointError(f"checkpoint {name!r}: its config is a {type(state['config']).__name__}, expected a dict")
    missing = [key for key in require if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {name!r}: missing {', '.join(map(repr, missing))} (required here)")
    return state


def load_checkpoint(path: str | os.PathLike, require: tuple[str, ...] = ()) -> dict:
    """Deprecated: :func:`read_checkpoint` (this name returned a dict here but loads weights into a
    module in :func:`posemods.models.load_checkpoint`)."""
    warnings.warn(
        "posemods.training.load_checkpoint is renamed read_checkpoint (it returns the checkpoint's dict); "
        "posemods.load_model returns the model",
        DeprecationWarning,
        stacklevel=2,
    )
    return read_checkpoint(path, require)


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """The model of a checkpoint, built from the configuration stored in it, its weights loaded, in eval mode.

    ``path``: a checkpoint the CLI or :func:`~posemods.training.fit` wrote (``OUT/last.pt``, with or
    without training state, of this version or an earlier one of the same format) or the weights
    beside it (``OUT/last.safetensors``). ``map_location``: the device the model goes to.

    Every problem is a ``ValueError`` naming the file (``FileNotFoundError`` when there is none):
    a damaged or foreign file, one without a model configuration, or weights that do not fit it.
    """
    device = _device(map_location)
    name = os.fspath(path)
    if is_safetensors(path):
        weights, metadata = read_safetensors(path)
        if metadata.get("format") != WEIGHTS_FORMAT or "model_config" not in metadata:
            raise CheckpointError(
                f"checkpoint {name!r}: expected posemods weights (metadata format {WEIGHTS_FORMAT!r} with a "
                f"model_config), got format {metadata.get('format')!r}; plain weights load into a model built "
                "with posemods.create_model(name, checkpoint=path)"
            )
        try:
            arguments = json.loads(metadata["model_config"])
        except ValueError as error:
            raise CheckpointError(f"checkpoint {name!r}: its model_config is not JSON ({error})") from None
    else:
        state = read_checkpoint(path, require=("model",))
        weights, arguments = state["model"], state.get("model_config")
        if arguments is None:  # written before checkpoints stored model_config: its run's config says it
            if "config" not in state:
                raise CheckpointError(f"checkpoint {name!r}: missing 'model_config' and 'config': nothing says "
                                      "which model its weights are for")  # fmt: skip
            try:
                arguments = saved_model_config(state["config"])
            except (TypeError, ValueError) as error:
                raise CheckpointError(f"checkpoint {name!r}: its saved config cannot be read ({error})") from None
    if not isinstance(arguments, dict) or not isinstance(arguments.get("name"), str):
        raise CheckpointError(f"checkpoint {name!r}: expected a model_config naming a model, got {arguments!r}")
    try:
        model = create_model(**arguments)
    except (TypeError, ValueError) as error:  # e.g. a model this installation does not register
        raise CheckpointError(f"checkpoint {name!r}: its model cannot be built here ({error})") from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {name!r}: its weights do not fit the {arguments.get('name')} its configuration builds "
            f"({_first_reason(error)}); was it written by another version of posemods?"
        ) from None
    return model.to(device).eval()


def _device(map_location) -> torch.device:
    try:
        return torch.device(map_location)
    except (RuntimeError, TypeError):
        raise ValueError(f"map_location: expected a device such as 'cpu' or 'cuda:0', got {map_location!r}") from None


def _first_reason(error: RuntimeError) -> str:
    """The first line of torch's load_state_dict error after its heading, cut to its first sentence."""
    lines = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
    return lines[0].split(". ")[0][:160] if lines else ""


#: The settings that decide a model's weights (the data decides its joints).
MODEL_SETTINGS = ("model", "variant", "preset", "model_kwargs", "input_size", "clip_length", "data")


def describe_model(config: dict) -> str:
    """``kimnet (variant kmm, preset tiny, input_size (32, 32), clip_length 3, data synthetic)``."""
    details = ", ".join(f"{k} {_setting(config.get(k))}" for k in MODEL_SETTINGS[1:] if config.get(k) not in (None, {}))
    return f"{config.get('model')} ({details})"


def _setting(value):
    return tuple(value) if isinstance(value, list) else value


def load_model_state(model: torch.nn.Module, state: dict, path: str | os.PathLike, config: dict) -> None:
    """``model.load_state_dict(state["model"])``, or a ``ValueError`` that says which model the file is for.

    torch's own error is a dump of missing and unexpected keys; what the user needs is that the
    checkpoint belongs to another model, or to this one built with other settings, and which ones.
    """
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        saved = state.get("config") or {}
        differ = {k: (_setting(saved.get(k)), _setting(config.get(k))) for k in MODEL_SETTINGS
                  if _setting(saved.get(k)) != _setting(config.get(k))}  # fmt: skip
        first = _first_reason(error)
        because = (
            "settings that differ (checkpoint, here): "
            + ", ".join(f"{k} {a!r} vs {b!r}" for k, (a, b) in differ.items())
            if differ
            else f"its weights do not fit ({first})"
        )
        raise CheckpointError(
            f"checkpoint {os.fspath(path)!r} holds the weights of {describe_model(saved)}, which do not fit "
            f"the {describe_model(config)} built here; {because}"
        ) from None

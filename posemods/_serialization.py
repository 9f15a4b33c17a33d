"""Reading ``torch.save`` files safely, and the digest that lets a checkpoint prove it is intact.

Both the training checkpoints (:mod:`posemods.training.checkpoint`) and the models' ``checkpoint=``
path (:mod:`posemods.models.checkpoint`) read files through :func:`load_file`, so every way a file can
be wrong ends in one ``ValueError`` that names the file and says what is wrong with it:

- always ``weights_only=True``: a checkpoint is data, not code. torch's own message for a refused
  object advises ``weights_only=False``; that advice must never reach a user holding a file of
  unknown origin, so only the name of the refused object is kept;
- an empty, truncated or foreign file (torch raises ``EOFError``, ``OSError``, ``KeyError`` or an
  unpickling error, none of which names the file) is "not a readable checkpoint".

torch's zip container does not check the CRCs of its records on load, so flipped bytes inside a
tensor load without complaint. :func:`payload_digest` is a SHA-256 over the payload itself (every
tensor's dtype, shape and bytes, and every plain value), which the writer stores beside the payload
and the reader recomputes.

Weights also travel as ``.safetensors`` files (:func:`encode_safetensors`, :func:`read_safetensors`),
the format timm and the Hugging Face Hub load: tensors and string metadata only, nothing to unpickle.
safetensors checks no sums either, so the writer stores the weights' digest in the metadata, and
the reader checks it when it is there (a file written elsewhere has none and is read as it is).
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Mapping

import torch


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with a message naming the file and what is wrong.

    A ``ValueError``, so callers that catch those keep working; the CLIs catch this one to print the
    message without a traceback.
    """


#: The key under which :func:`payload_digest` of the other fields is stored.
DIGEST_KEY = "sha256"

_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def load_file(path: str | os.PathLike, what: str = "checkpoint"):
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one clear error per failure.

    Raises ``FileNotFoundError`` when ``path`` is not a file, and ``ValueError`` naming ``path`` when
    the file is empty, truncated, not a torch file, or holds Python objects other than tensors and
    plain data.
    """
    name = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: no such file {name!r}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{what} {name!r}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # e.g. "Detected pickle protocol 4": noise about a file that is refused or fine anyway.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # each kind becomes the same clear message
        refused = _REFUSED_GLOBAL.search(str(error))
        if refused:
            reason = (
                f"it holds a Python object ({refused.group(1)}) besides tensors and plain data, and "
                "checkpoints are read as data only, never as code"
            )
        else:
            reason = (
                f"not a readable torch checkpoint: it is truncated, corrupt or another kind of file "
                f"({type(error).__name__}{': ' + _first_line(error) if _first_line(error) else ''})"
            )
        raise CheckpointError(f"{what} {name!r}: {reason}") from None


#: The file suffix of the safetensors format.
SAFETENSORS_SUFFIX = ".safetensors"


def is_safetensors(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a safetensors file (by its suffix, the ecosystem's convention)."""
    return os.fspath(path).endswith(SAFETENSORS_SUFFIX)


def weights_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """:func:`payload_digest` of ``tensors`` in name order (a safetensors file keeps an order of its own)."""
    return payload_digest({name: tensors[name] for name in sorted(tensors)})


def encode_safetensors(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> bytes:
    """The bytes of a safetensors file of ``tensors`` (moved to the CPU) and ``metadata`` plus the
    weights' digest under :data:`DIGEST_KEY`.

    safetensors refuses tensors that share memory (tied weights, views of one buffer): every later
    name of a storage gets a copy, so the file holds each name's values and loads back as it was.
    """
    from safetensors.torch import save

    plain: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu()
        storage = tensor.untyped_storage().data_ptr()
        plain[name] = tensor.clone() if storage in storages else tensor.contiguous()
        storages.add(storage)
    return save(plain, metadata={**metadata, DIGEST_KEY: weights_digest(plain)})


def read_safetensors(
    path: str | os.PathLike, what: str = "checkpoint"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (on the CPU) and the metadata of the safetensors file at ``path``.

    Raises ``FileNotFoundError`` without a file and a :class:`CheckpointError` naming ``path`` for an
    empty or unreadable one, or one whose weights do not match the digest in its metadata.
    """
    name = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: no such file {name!r}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{what} {name!r}: the file is empty (0 bytes)")
    from safetensors import safe_open

    try:
        with safe_open(name, framework="pt", device="cpu") as file:
            metadata = dict(file.metadata() or {})
            tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118 (not a dict)
    except Exception as error:
        reason = _first_line(error)
        raise CheckpointError(
            f"{what} {name!r}: not a readable safetensors file: it is truncated, corrupt or another kind of file "
            f"({type(error).__name__}{': ' + reason if reason else ''})"
        ) from None
    stored = metadata.get(DIGEST_KEY)
    if stored is not None and weights_digest(tensors) != stored:
        raise CheckpointError(
            f"{what} {name!r} is corrupt: the digest of its weights differs from the one saved in its metadata "
            "(bytes changed on disk or in transfer); use another copy"
        )
    return tensors, metadata


def _first_line(error: BaseException) -> str:
    text = str(error)
    if "weights_only" in text or "Weights only" in text:
        # torch's weights_only messages wrap advice around the cause: keep the cause only.
        cause = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        return cause.group(1).strip()[:200] if cause else ""
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else ""


def payload_digest(fields: Mapping) -> str:
    """SHA-256 hex digest of ``fields``: tensors by dtype, shape and bytes; plain data by type and value.

    Dicts are hashed in their order (pickle keeps it), so the digest a writer computes equals the one
    the reader recomputes from the loaded file, and any changed byte of a tensor or value changes it.
    """
    digest = hashlib.sha256()
    _feed(digest, fields)
    return digest.hexdigest()


def verify_digest(state: dict, name: str) -> None:
    """Pop :data:`DIGEST_KEY` from ``state`` and raise :class:`CheckpointError` naming the file ``name``
    unless it equals :func:`payload_digest` of the rest (the training checkpoints' reader and the
    models' ``checkpoint=`` reader both check it here)."""
    stored = state.pop(DIGEST_KEY)
    try:
        actual = payload_digest(state)
    except TypeError as error:
        raise CheckpointError(f"checkpoint {name!r}: {error}") from None
    if actual != stored:
        raise CheckpointError(
            f"checkpoint {name!r} is corrupt: the digest of its payload is {actual[:16]}..., but it was "
            f"saved with {str(stored)[:16]}... (bytes changed on disk or in transfer); use another copy"
        )


def _feed(digest, value) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
        digest.update(f"tensor {tensor.dtype} {tuple(value.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, Mapping):
        digest.update(f"dict {len(value)}|".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__} {len(value)}|".encode())
        for item in value:
            _feed(digest, item)
    elif value is None or isinstance(value, (bool, str)):
        digest.update(f"{type(value).__name__} {value!r}|".encode())
    elif isinstance(value, int):
        digest.update(f"int {int(value)}|".encode())
    elif isinstance(value, float):
        digest.update(f"float {float(value).hex()}|".encode())  # exact, and NaN-safe
    elif isinstance(value, (torch.dtype, torch.device)):
        digest.update(f"{type(value).__name__} {value}|".encode())
    else:
        raise TypeError(f"checkpoint: cannot store a {type(value).__name__} (tensors and plain data only)")

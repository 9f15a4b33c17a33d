"""Opening dataset files with errors that name the file and say what was expected.

The readers share these so that a truncated download, a file of another dataset or a hand-edited
JSON fails with ``ValueError: <file>: <what is wrong>`` instead of a parser's internal message.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posemods._optional import optional_import


def require_scipy() -> None:
    """Fail at once, before any file is looked at, when scipy (needed for .mat files) is missing."""
    optional_import("scipy.io", "data", "reading .mat files")


def load_mat(path: str | Path, keys: tuple[str, ...]) -> dict:
    """``scipy.io.loadmat(path)``, refusing a file it cannot parse or that lacks any of ``keys``."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        mat = loadmat(str(path))
    except Exception as error:  # scipy raises ValueError, TypeError, OSError or MatReadError by the damage
        raise ValueError(f"{path}: not a readable MATLAB .mat file (truncated or corrupt?): {error}") from None
    missing = [key for key in keys if key not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path}: expected the variables {list(keys)}, missing {missing} (found {found})")
    return mat


def mat_array(path: Path, key: str, value, ndim: int | None = None) -> np.ndarray:
    """A .mat variable as float64, or a ValueError naming the file and the variable."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: expected {key!r} to hold numbers, got {type(value).__name__}") from None
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{path}: expected {key!r} with {ndim} dimensions, got shape {array.shape}")
    return array


def load_json(path: str | Path):
    """``json.load`` of ``path``, refusing a truncated or otherwise invalid file by name."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON (truncated?): {error}") from None

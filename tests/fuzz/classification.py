"""One fuzz case and the rule that sorts its outcome into the five classes of :mod:`tests.fuzz`."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field

CLASSES = ("clear error", "correct", "cryptic", "silently wrong", "crash")
TIME_LIMIT_S = 60


@dataclass
class Case:
    """One call of a public entry point and what the contract says of it; :func:`classify` fills in
    ``outcome`` (one of :data:`CLASSES`) and ``detail``."""

    area: str
    name: str
    call: Callable
    names: tuple[str, ...]  # what a clear error may name
    valid: bool | None = None  # None: the contract allows an error or a result
    check: Callable | None = None  # raises AssertionError when a result is wrong
    outcome: str = ""
    detail: str = ""
    extra: dict = field(default_factory=dict)


def shape_check(shape, nan_in: bool = False, finite: bool = True):
    """A result check: the shape, then NaN out if ``nan_in``, else (with ``finite``) finite out."""

    def check(out):
        if isinstance(out, tuple):
            out = out[0]
        if hasattr(out, "features"):
            out = out.features
        assert tuple(out.shape) == tuple(shape), f"shape {tuple(out.shape)}, expected {tuple(shape)}"
        if out.numel() == 0:
            return
        if nan_in:
            assert out.isnan().any(), "NaN in, no NaN out"
        elif finite:
            assert out.isfinite().all(), "finite in, non-finite out"

    return check


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout


def classify(case: Case) -> None:
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT_S)
    try:
        out = case.call()
    except (_Timeout, MemoryError, OverflowError, RecursionError) as error:
        case.outcome, case.detail = "crash", f"{type(error).__name__}: {str(error)[:200]}"
        return
    except (ValueError, TypeError, FileNotFoundError) as error:
        message = str(error)
        named = any(n in message for n in case.names)
        case.outcome = "clear error" if named else "cryptic"
        case.detail = f"{type(error).__name__}: {message[:200]}"
        return
    except Exception as error:  # every other type is cryptic by the rule
        case.outcome, case.detail = "cryptic", f"{type(error).__name__}: {str(error)[:200]}"
        return
    finally:
        signal.alarm(0)
    if case.valid is False:
        case.outcome, case.detail = "silently wrong", "an input the contract forbids was accepted"
        return
    try:
        if case.check is not None:
            case.check(out)
    except AssertionError as error:
        case.outcome, case.detail = "silently wrong", str(error)[:200]
        return
    except Exception as error:
        case.outcome, case.detail = "silently wrong", f"result unusable: {type(error).__name__}: {str(error)[:150]}"
        return
    case.outcome = "correct"

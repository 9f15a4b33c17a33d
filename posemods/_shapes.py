"""Shape vocabulary and input validation shared by every op and module.

Every docstring in posemods writes tensor shapes with these letters:

======  ===============================================================
letter  meaning
======  ===============================================================
B       batch size
T       frames in a clip
J       joints (keypoints)
C       channels (feature width)
H, W    spatial height and width of a feature or heatmap grid
L       tokens in a sequence (for a grid, L = H * W)
G       attention heads (groups)
N       sampling points per query and head (deformable attention)
D       head dimension (Dv when values have a different width)
======  ===============================================================

A suffix names a second grid or width of the same kind: ``Hv, Wv`` are the value heatmap's size,
``Lq`` the number of queries, ``Cz`` the constraint feature's channels.

The helpers below turn shape mistakes into a ``ValueError`` and dtype mistakes into a ``TypeError``
that name the argument, the expected shape in this vocabulary and what actually arrived, before any
broadcasting can turn them into something cryptic.
"""

from __future__ import annotations

import math
import numbers
import operator

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _fmt(dims: tuple[str, ...]) -> str:
    return "(" + ", ".join(dims) + ")"


def expect_shape(name: str, tensor: torch.Tensor, spec: str, known: dict[str, int]) -> None:
    """Check ``tensor`` against ``spec`` (e.g. ``"B J H W"``) and record the sizes in ``known``.

    A letter already present in ``known`` must match; a new letter is recorded so the next tensor is
    checked against it. Literal integers in ``spec`` must match exactly.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(tensor).__name__}")
    dims = tuple(spec.split())
    if tensor.dim() != len(dims):
        raise ValueError(
            f"{name}: expected a {len(dims)}-D tensor {_fmt(dims)}, got {tensor.dim()}-D shape {tuple(tensor.shape)}"
        )
    for axis, (letter, size) in enumerate(zip(dims, tensor.shape)):
        # No int(size): under torch.export / torch.compile a size is a SymInt, and int() would
        # specialise it to the example's value (a batch exported as dynamic would become fixed).
        if letter.isdigit():
            expected = int(letter)
        elif letter in known:
            expected = known[letter]
        else:
            known[letter] = size
            continue
        _check_size(name, dims, tensor, letter, axis, size, expected)


def _is_symbolic(value) -> bool:
    return isinstance(value, torch.SymInt)


def _check_size(name, dims, tensor, letter, axis, size, expected) -> None:
    """Raise ``ValueError`` when ``size != expected``, without specialising a symbolic size.

    Plain ints (eager mode, static dims) compare in Python. When either side is symbolic (traced by
    torch.export or torch.compile with dynamic shapes), ``torch._check`` records the equality as a
    runtime assertion of the graph instead of a guard that would fix the size ("Use torch._check*()
    to ... tell the compiler about properties of unbacked/dynamic values", torch.export's docs).
    """

    def message() -> str:
        return (
            f"{name}: expected shape {_fmt(dims)} with {letter}={expected}, got "
            f"{tuple(tensor.shape)} ({letter}={size} at dim {axis})"
        )

    if _is_symbolic(size) or _is_symbolic(expected):
        torch._check(size == expected, message)
    elif size != expected:
        raise ValueError(message())


def expect_float(name: str, tensor: torch.Tensor) -> None:
    """Raise ``TypeError`` unless ``tensor`` has a floating-point dtype autograd can use."""
    if tensor.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name}: expected a floating-point tensor (float16, bfloat16, float32 or float64), got {tensor.dtype}"
        )


def expect_same(what: str, **tensors: torch.Tensor) -> None:
    """Raise unless every tensor shares the same ``what`` ("device" or "dtype")."""
    items = list(tensors.items())
    first_name, first = items[0]
    for name, tensor in items[1:]:
        a, b = getattr(first, what), getattr(tensor, what)
        if a != b:
            error = TypeError if what == "dtype" else ValueError
            raise error(f"{name} has {what} {b} but {first_name} has {what} {a}; they must match")


def is_positive_int(value) -> bool:
    """Whether ``value`` is a size or a count: an integer >= 1 of any integer type.

    Any integer type counts (``operator.index``: Python and numpy integers); bools (``True == 1``
    would pass silently) and floats (``4.0``, ``np.float64(4)``) do not. The fuzz harness and the
    property tests (tests/fuzz, tests/test_properties.py) read validity from here, so the rule is
    written once; tests/test_shapes.py pins it to a table of values.
    """
    if isinstance(value, bool):
        return False
    try:
        return operator.index(value) >= 1
    except TypeError:
        return False


def is_real(value) -> bool:
    """Whether ``value`` is a real number: an int, float or numpy scalar of either, and not a bool."""
    return not isinstance(value, bool) and isinstance(value, numbers.Real)


def is_positive_real(value) -> bool:
    """Whether ``value`` is a ratio, a sigma or a threshold: a real number (:func:`is_real`), finite and > 0."""
    return is_real(value) and math.isfinite(value) and value > 0


def is_size(value) -> bool:
    """Whether ``value`` is a grid size (H, W): exactly two positive integers (:func:`is_positive_int`)."""
    return _size_pair(value) is not None


def _size_pair(value) -> tuple[int, int] | None:
    """``value`` as (H, W) ints if it is a grid size, else None; unpacked once, so an iterator works too."""
    try:
        height, width = value
    except (TypeError, ValueError):
        return None
    if is_positive_int(height) and is_positive_int(width):
        return operator.index(height), operator.index(width)
    return None


def expect_positive(name: str, value: int) -> int:
    """Return ``value`` as a Python ``int``, or raise ``ValueError`` unless it is an integer >= 1
    (:func:`is_positive_int`: numpy integers too, no bools or floats)."""
    if not is_positive_int(value):
        raise ValueError(f"{name}: expected a positive integer, got {value!r} ({type(value).__name__})")
    return operator.index(value)


def expect_odd_size(name: str, value) -> int:
    """Return ``value`` as an ``int``, or raise ``ValueError`` unless it is an odd integer >= 1: a
    kernel padded by ``size // 2`` on each side then keeps the map's H x W."""
    size = expect_positive(name, value)
    if size % 2 == 0:
        raise ValueError(f"{name}: expected an odd size so the map keeps H x W, got {value}")
    return size


def expect_mlp_ratio(mlp_ratio, dim: int) -> float:
    """Return ``mlp_ratio`` as a float, or raise unless it is a finite real > 0 giving >= 1 hidden unit.

    ``dim * '4'`` repeats a string (and allocates gigabytes), so a string is refused before any
    arithmetic: ``TypeError`` for a non-number, ``ValueError`` for 0, negative, NaN or inf.
    """
    if not is_real(mlp_ratio):
        raise TypeError(f"mlp_ratio: expected a positive real number, got {type(mlp_ratio).__name__} {mlp_ratio!r}")
    value = float(mlp_ratio)
    if not is_positive_real(value) or int(dim * value) < 1:
        raise ValueError(f"mlp_ratio: expected a finite number > 0 with dim * mlp_ratio >= 1, got {mlp_ratio!r}")
    return value


def expect_prefix_tokens(num_prefix_tokens) -> int:
    """``num_prefix_tokens`` as a non-negative int (cls / register tokens ahead of the grid)."""
    if isinstance(num_prefix_tokens, bool):
        raise TypeError(f"num_prefix_tokens: expected a non-negative integer, got {num_prefix_tokens!r}")
    try:
        value = operator.index(num_prefix_tokens)
    except TypeError:
        raise TypeError(f"num_prefix_tokens: expected a non-negative integer, got {num_prefix_tokens!r}") from None
    if value < 0:
        raise ValueError(f"num_prefix_tokens: expected a non-negative integer, got {num_prefix_tokens!r}")
    return value


def expect_grid_tokens(name: str, length: int, num_prefix_tokens: int) -> int:
    """Return the grid's token count ``L - P`` of a sequence of ``length`` tokens whose first
    ``num_prefix_tokens`` (P: cls / register tokens) are not on the grid; ``ValueError`` naming
    ``name`` unless at least one grid token is left."""
    if num_prefix_tokens >= length:
        raise ValueError(f"{name}: expected more than num_prefix_tokens={num_prefix_tokens} tokens, got L={length}")
    return length - num_prefix_tokens


def expect_size(name: str, size) -> tuple[int, int]:
    """Return ``size`` as ``(H, W)`` ints, or raise ``ValueError`` unless it is two positive integers.

    Every grid size in posemods (frames, crops, heatmaps) is (H, W), torch's order (``tensor.shape[-2:]``).
    """
    pair = _size_pair(size)
    if pair is None:
        raise ValueError(f"{name}: expected (H, W), two positive integers, got {size!r}")
    return pair


def expect_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


def expect_grid(name: str, hw, tokens: int) -> tuple[int, int]:
    """Return ``hw`` as ``(H, W)`` ints, or raise ``ValueError`` unless it is two positive ints with H * W = L."""
    try:
        height, width = (operator.index(v) for v in hw)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected (H, W), two integers, got {hw!r}") from None
    if height < 1 or width < 1 or height * width != tokens:
        raise ValueError(f"{name}: expected (H, W) with H * W = L = {tokens}, got ({height}, {width})")
    return height, width


def _parameters_allow(module: torch.nn.Module, attr: str, value) -> bool:
    """Whether ``module`` has no parameters or one whose ``attr`` is ``value``.

    Runs on every forward: it stops at the first matching parameter (usually the first one).
    """
    empty = True
    for param in module.parameters():
        if getattr(param, attr) == value:
            return True
        empty = False
    return empty


def expect_module_device(name: str, tensor: torch.Tensor, module: torch.nn.Module) -> None:
    """Raise ``ValueError`` if no parameter of ``module`` is on ``tensor``'s device.

    Without it the first layer fails with torch's "Tensor on device cpu is not on the expected device
    meta", which names neither the argument nor the module.
    """
    if _parameters_allow(module, "device", tensor.device):
        return
    devices = sorted({str(p.device) for p in module.parameters()})
    raise ValueError(
        f"{name}: on device {tensor.device} but {type(module).__name__}'s parameters are on "
        f"{', '.join(devices)}; move one to the other (e.g. module.to({str(tensor.device)!r}))"
    )


def expect_module_dtype(name: str, tensor: torch.Tensor, module: torch.nn.Module) -> None:
    """Raise ``TypeError`` if no parameter of ``module`` has ``tensor``'s dtype, outside autocast, and
    ``ValueError`` if none is on its device (:func:`expect_module_device`).

    Mixed modules (e.g. bf16 weights with fp32 norms) pass as long as one parameter matches; under
    autocast a mix is expected (autocast casts per op), so it is allowed there.
    """
    expect_module_device(name, tensor, module)
    if _parameters_allow(module, "dtype", tensor.dtype):
        return
    if _autocasting(tensor.device.type):
        return
    dtypes = {p.dtype for p in module.parameters()}
    raise TypeError(
        f"{name}: dtype {tensor.dtype} but {type(module).__name__}'s parameters are "
        f"{', '.join(sorted(str(d) for d in dtypes))}; convert one to the other (e.g. "
        f"module.to({tensor.dtype})) or run under torch.autocast"
    )


def _autocasting(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except RuntimeError:  # a device type without autocast, e.g. "meta"
        return False

"""One record per op: everything dispatch needs to know about an op, in one frozen object.

Each op module in :mod:`posemods._ops` builds its :class:`OpRecord` next to the custom op it describes,
and :mod:`posemods._ops.registry` collects them. :mod:`posemods.functional` validates its arguments
and hands the tensors to the record (``OPS[name].dispatch(...)``); it never imports ``posemods.triton``.
The op modules allocate each custom op's outputs once (their ``forward_outputs`` / ``backward_outputs``,
which the ``register_fake`` functions return too) and pass them down to the launchers, so the layout a
fake promises to ``torch.compile`` cannot drift from the layout a kernel writes, and nothing in
``posemods.triton`` imports this layer.

Nothing here imports triton: each record's ``load_kernels`` imports its kernel module on first use
(an ``import`` statement, which torch.compile traces; ``importlib.import_module`` it refuses), so
``import posemods`` stays light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch

from posemods._backend import select_backend


@dataclasses.dataclass(frozen=True)
class OpRecord:
    """What dispatch knows about one op.

    Attributes:
        name: the public name, ``posemods.functional.<name>`` and ``posemods::<name>``.
        reference: the pure-PyTorch implementation, ``reference(*tensors, *args)``.
        fused: the custom-op path with the reference's signature and public outputs.
        load_kernels: returns the Triton module, importing it on first use; it defines the launchers
            ``forward`` and ``backward`` (which write into outputs the custom op allocated) and the
            capability check ``unsupported_reason(*tensors) -> str`` (``""`` when the kernels can run).
    """

    name: str
    reference: Callable[..., Any]
    fused: Callable[..., Any]
    load_kernels: Callable[[], ModuleType]

    def kernels(self) -> ModuleType:
        """The Triton kernel module; importing it imports triton (about a second, once)."""
        return self.load_kernels()

    def unsupported(self, *tensors: torch.Tensor) -> str:
        """The capability check: ``""`` when the fused kernels handle these inputs, otherwise why not.
        Only called once triton is known to import (see :func:`posemods._backend.select_backend`)."""
        return self.kernels().unsupported_reason(*tensors)

    def dispatch(self, backend: str, tensors: tuple[torch.Tensor, ...], *args: Any) -> Any:
        """Run the op on ``tensors`` (and the non-tensor ``args``) on the backend the rules choose."""
        choice = select_backend(self.name, backend, tensors, self.unsupported)
        return (self.fused if choice == "triton" else self.reference)(*tensors, *args)

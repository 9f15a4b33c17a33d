"""LSTMPM's convolutional LSTM (Luo et al., CVPR 2018).

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch
from torch import nn

from posemods._shapes import expect_float, expect_positive, expect_shape


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step: ``(x (B, C, H, W), state) -> (hidden (B, D, H, W), cell (B, D, H, W))``.

    Gates are ``Conv_x(x) + Conv_h(hidden_prev)`` (3x3 convs; only ``Conv_x`` has a bias), and
    ``cell = sigmoid(f) * cell_prev + sigmoid(i) * tanh(g)``, ``hidden = sigmoid(o) * tanh(cell)``.

    ``recurrent=False`` builds LSTMPM's first-stage cell, which never has a previous state: it has
    no ``Conv_h`` and no forget gate, so ``cell = sigmoid(i) * tanh(g)``. This is not the temporal-module
    contract: the cell carries state and never sees the previous frame's features.

    Args:
        in_channels: C.
        hidden_channels: D, 48 in LSTMPM.
        kernel_size: of both gate convs.
        recurrent: whether the cell takes a previous state.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 48, kernel_size: int = 3, recurrent: bool = True):
        super().__init__()
        expect_positive("in_channels", in_channels)
        expect_positive("hidden_channels", hidden_channels)
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.recurrent = recurrent
        gates = 4 if recurrent else 3  # (i, f, o, g) or (i, o, g)
        padding = kernel_size // 2
        self.input_gates = nn.Conv2d(in_channels, gates * hidden_channels, kernel_size, padding=padding)
        self.hidden_gates = (
            nn.Conv2d(hidden_channels, gates * hidden_channels, kernel_size, padding=padding, bias=False)
            if recurrent
            else None
        )

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(hidden, cell)``; ``state`` is the previous ``(hidden, cell)``, required iff recurrent."""
        dims = {"C": self.in_channels, "D": self.hidden_channels}
        expect_shape("x", x, "B C H W", dims)
        expect_float("x", x)
        if (state is not None) != self.recurrent:
            raise ValueError(f"state: a recurrent={self.recurrent} cell needs {'a' if self.recurrent else 'no'} state")
        gates = self.input_gates(x)
        if state is None:
            i, o, g = gates.chunk(3, dim=1)
            cell = torch.sigmoid(i) * torch.tanh(g)
        else:
            hidden_prev, cell_prev = state
            expect_shape("state[0] (hidden)", hidden_prev, "B D H W", dims)
            expect_shape("state[1] (cell)", cell_prev, "B D H W", dims)
            i, f, o, g = (gates + self.hidden_gates(hidden_prev)).chunk(4, dim=1)
            cell = torch.sigmoid(f) * cell_prev + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(cell), cell

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, recurrent={self.recurrent}"

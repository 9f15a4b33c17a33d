"""The motion-operator contract: what DCA, DA and DC, VREMD Table 6's deformable operators, share.

A *motion operator* takes the settings of :class:`MotionConfig` and maps

    ``(x (B, P + L, C), constraint (B, P + L, Cz) or None, hw=(H, W), reference_points=None) -> (B, P + L, C)``

motion tokens x on an H x W grid, placed under the constraint F, to new motion tokens on the same
grid, the P prefix tokens (a timm ViT's cls / register tokens) passed through. A block that holds
one can hold any of them: :func:`~posemods.modules.deformable_motion.deformable_motion` builds one
by name, and BMD's ADC block (:class:`~posemods.modules.bmd.AdaptiveDeformableCross`) holds one.

The constructor path is one: every operator, and every block that builds operators (ADC, BMD),
checks its settings by building a :class:`MotionConfig` before it allocates anything, so a bad
setting gets the same error whichever module took it. :class:`MotionOperator` stores the checked
settings and runs the forward's input checks and the prefix tokens; a subclass builds its layers
and writes :meth:`MotionOperator.forward_grid`. Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import nn

from posemods._backend import BACKENDS
from posemods._shapes import (
    expect_choice,
    expect_float,
    expect_grid,
    expect_grid_tokens,
    expect_module_dtype,
    expect_odd_size,
    expect_positive,
    expect_prefix_tokens,
    expect_same,
    expect_shape,
)
from posemods.modules.offsets import OFFSET_CONVS, OffsetConv

#: The one name for the choice between VREMD Table 6's deformable operators, used by
#: :class:`~posemods.modules.dca.DeformableCrossAttention` (``"dca"``, ``"da"``),
#: :func:`~posemods.modules.deformable_motion.deformable_motion` and
#: :class:`~posemods.modules.bmd.BidirectionalMotionDisentangle` (all three): ``"dca"`` deformable
#: cross attention (eq. 3-4), ``"da"`` plain deformable attention (Deformable DETR), ``"dc"``
#: deformable convolution.
Operator = Literal["dca", "da", "dc"]
OPERATORS: tuple[str, ...] = get_args(Operator)  # the runtime check reads the annotation's values
#: Where DCA's reference points p_z come from: each query's own pixel, or predicted from z.
ReferencePointsMode = Literal["grid", "constraint"]
REFERENCE_POINTS: tuple[str, ...] = get_args(ReferencePointsMode)
#: The operators that never read the constraint, by what they are (for the error that says so).
WITHOUT_Z = {"da": "plain deformable attention", "dc": "deformable convolution"}


@dataclass
class MotionConfig:
    """The settings of a motion operator, checked when the config is built.

    The fields are the arguments of :class:`~posemods.modules.dca.DeformableCrossAttention` (which
    documents them), in its order, and of :class:`~posemods.modules.bmd.AdaptiveDeformableCross`
    but its ``mlp_ratio``: ``deformable_motion(**asdict(config))`` builds the operator. Every
    setting is checked, even by an operator that ignores it (DC has no ``offset_conv``), so a typo
    fails whichever operator is chosen. After the checks ``constraint_dim`` is Cz (C when None) and
    ``reference_points`` the operator's mode (None: ``"constraint"`` for DCA, ``"grid"`` for DA and
    DC, which have no z).
    """

    dim: int
    num_heads: int = 8
    num_points: int = 4
    constraint_dim: int | None = None
    offset_kernel_size: int = 3
    offset_conv: OffsetConv = "depthwise"
    operator: Operator = "dca"
    qkv_bias: bool = True
    backend: Literal["auto", "reference", "triton"] = "auto"
    reference_points: ReferencePointsMode | None = None

    def __post_init__(self) -> None:
        expect_choice("operator", self.operator, OPERATORS)
        if self.reference_points is None:
            self.reference_points = "constraint" if self.operator == "dca" else "grid"
        expect_odd_size("offset_kernel_size", self.offset_kernel_size)
        expect_choice("offset_conv", self.offset_conv, OFFSET_CONVS)
        for name in ("dim", "num_heads", "num_points"):
            expect_positive(name, getattr(self, name))
        if self.dim % self.num_heads:
            raise ValueError(f"dim: expected a multiple of num_heads={self.num_heads}, got {self.dim}")
        if self.constraint_dim is None:
            self.constraint_dim = self.dim
        expect_positive("constraint_dim", self.constraint_dim)
        expect_choice("backend", self.backend, BACKENDS)
        expect_choice("reference_points", self.reference_points, REFERENCE_POINTS)
        if self.operator in WITHOUT_Z and self.reference_points != "grid":
            raise ValueError(
                f"reference_points: {WITHOUT_Z[self.operator]} (operator={self.operator!r}) has no z; expected 'grid'"
            )


class MotionOperator(nn.Module):
    """The base of the motion operators (DCA, DA, DC): their settings and their forward's frame.

    ``__init__`` stores the checked settings of a :class:`MotionConfig` as attributes (``dim``,
    ``num_heads``, ``num_points``, ``constraint_dim``, ``operator``, ``backend``,
    ``reference_points``) and ``num_prefix_tokens``, the P tokens ahead of the grid (a layout of the
    sequence, not a setting of the operator, so not in the config); the subclass then builds its
    layers. :meth:`forward` checks the inputs, sets the prefix tokens aside and hands the grid
    tokens to :meth:`forward_grid`, which the subclass writes.
    """

    def __init__(self, config: MotionConfig, num_prefix_tokens: int = 0) -> None:
        super().__init__()
        self.dim, self.num_heads, self.num_points = config.dim, config.num_heads, config.num_points
        self.operator, self.backend, self.reference_points = config.operator, config.backend, config.reference_points
        self.constraint_dim = config.constraint_dim
        self.num_prefix_tokens = expect_prefix_tokens(num_prefix_tokens)

    def forward(
        self,
        x: torch.Tensor,
        constraint: torch.Tensor | None,
        hw: tuple[int, int],
        reference_points: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, P + L, C) motion tokens, constraint (B, P + L, Cz) (``None`` allowed for DA and DC,
        which never read it), hw = (H, W) with H * W = L, reference_points (B, L, 2) normalised
        (x, y) or None (each query's own pixel centre). Returns (B, P + L, C), the P prefix tokens
        of x unchanged."""
        _, _, height, width = check_motion_inputs(self, x, constraint, hw, reference_points)
        prefix = self.num_prefix_tokens
        grid_constraint = constraint[:, prefix:] if self.operator == "dca" else None
        out = self.forward_grid(x[:, prefix:], grid_constraint, (height, width), reference_points)
        return torch.cat([x[:, :prefix], out], dim=1) if prefix else out

    def forward_grid(
        self,
        x: torch.Tensor,
        constraint: torch.Tensor | None,
        hw: tuple[int, int],
        reference_points: torch.Tensor | None,
    ) -> torch.Tensor:
        """The operator on checked grid tokens: x (B, L, C), constraint (B, L, Cz) for DCA and None
        for DA and DC, hw = (H, W), reference_points (B, L, 2) or None. Returns (B, L, C)."""
        raise NotImplementedError(f"{type(self).__name__} must define forward_grid")


def check_motion_inputs(module: MotionOperator, x, constraint, hw, reference_points) -> tuple[int, int, int, int]:
    """The checks every motion operator's forward starts with. Returns (B, L, H, W), L of the grid.

    DA and DC, which never read F, also accept ``constraint=None``; a constraint they are given is
    checked all the same.
    """
    dims = {"C": module.dim, "Cz": module.constraint_dim}
    expect_shape("x", x, "B L C", dims)
    expect_float("x", x)
    if constraint is not None or module.operator == "dca":
        expect_shape("constraint", constraint, "B L Cz", dims)
        expect_float("constraint", constraint)
        expect_same("device", x=x, constraint=constraint)
    expect_module_dtype("x", x, module)  # also checks the device
    if constraint is not None:
        expect_module_dtype("constraint", constraint, module)
    # L of the grid, after the prefix tokens
    grid = {"B": dims["B"], "L": expect_grid_tokens("x", dims["L"], module.num_prefix_tokens)}
    height, width = expect_grid("hw", hw, grid["L"])
    if reference_points is not None:
        expect_shape("reference_points", reference_points, "B L 2", grid)
        expect_float("reference_points", reference_points)
        expect_same("device", x=x, reference_points=reference_points)
    return grid["B"], grid["L"], height, width

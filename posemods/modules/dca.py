"""DeformableCrossAttention (DCA), VREMD eq. 3-4, and its plain deformable attention (DA) ablation.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from posemods import functional
from posemods._shapes import expect_choice
from posemods.modules.motion_operator import MotionConfig, MotionOperator, ReferencePointsMode
from posemods.modules.offsets import DeformableOffsets, OffsetConv, QueryOffsets, sampling_locations

#: The ``operator`` values DCA itself builds; ``"dc"`` is :class:`DeformableConvMotion`.
ATTENTION_OPERATORS = ("dca", "da")
#: The old name of the choice, kept for one release: ``weights="dot"`` is ``operator="dca"``,
#: ``weights="predicted"`` is ``operator="da"``.
WEIGHTS = {"dot": "dca", "predicted": "da"}


class DeformableCrossAttention(MotionOperator):
    """Motion tokens attend to N learned points around each query, placed under a constraint.

    ``operator="dca"`` (default) is VREMD eq. 3-4. For motion tokens x (M_f or M_b) and the enhanced
    feature F (``constraint``), both (B, L, ·) on an H x W grid, the paper writes "q = W_q ⊗ x,
    z = W_z ⊗ F, Δp = θ(ψ(q ⊕ z)), x̄ = φ(Δp + p_z)" and
    "DCA(x, z, p_z) = Σ_n σ(q ⊗ (W_k ⊗ x̄_n)ᵀ / √d) (W_v ⊗ x̄_n)", where p_z are "reference points
    from z". Here:

    - ``q = W_q x``, ``z = W_z F``; offsets ``Δp = θ(ψ(q ⊕ z))`` in pixels
      (:class:`~posemods.modules.offsets.DeformableOffsets`);
    - reference points p_z (``reference_points=``): ``"constraint"`` (default for DCA, the paper's
      "reference points from z") predicts a per-query shift in pixels from z by a linear map
      (``reference_proj``, C -> 2) added to the query's own pixel centre; it starts at zero, so at
      initialisation p_z is the query's pixel, and it learns where z points. ``"grid"`` keeps p_z at
      the query's own pixel centre (Deformable DETR's encoder). A ``reference_points`` tensor passed
      to :meth:`forward` replaces the pixel centres in both modes;
    - locations ``p = p_z + Δp / (W, H)``; x̄_n is x bilinearly sampled at p_n, zero outside the map
      (``grid_sample``'s ``padding_mode="zeros"``, as Deformable DETR samples);
    - ``out = W_o [Σ_n softmax_n(<q, W_k x̄_n> / √D) W_v x̄_n + b_v]`` per head
      (:func:`posemods.functional.deformable_cross_attention`).

    The biases, exactly (``qkv_bias=True``): the op samples the *unbiased* maps ``W_k x`` and
    ``W_v x`` (sampling commutes with a per-pixel linear map without bias, so this is ``W x̄_n``) and
    the value bias b_v is added after the weighted sum. That is eq. 4 with biased projections of the
    sampled features, ``W_v x̄_n + b_v``, because the N weights sum to 1; a point past the border
    samples x̄_n = 0 and so contributes b_v, not a scaled bias. A key bias would add ``<q, b_k>`` to
    all N logits of a query, which the softmax cancels, so W_k has no bias (it would never get a
    gradient).

    ``operator="da"`` is the plain deformable attention of Table 6 (b), "plain deformable attention
    (DA)" [Deformable DETR], built as Deformable DETR's ``MSDeformAttn`` with one level: offsets and
    point weights are linear maps of the query alone, ``self.sampling_offsets(query)`` and
    ``F.softmax(self.attention_weights(query), -1)``, the values are ``self.value_proj(input_flatten)``
    (projected, with its bias, before sampling, as there) and the sum goes through ``output_proj``.
    The query is the motion token x itself; there is no W_q, no key and no constraint: F is never read
    (``constraint`` may be ``None``). Initialised as there: offsets' weight 0 and bias on rings,
    point weights 0 (uniform), value and output projections Xavier with zero bias.

    Prefix tokens (``num_prefix_tokens=P``): x and F are (B, P + H * W, ·), a timm ViT's output with
    its cls / register tokens first; the P prefix tokens of x are passed through unchanged and only the
    H * W grid tokens attend.

    Args:
        dim: C, the width of x (and of q, k, v).
        num_heads: G; C must be a multiple of it.
        num_points: N sampling points per query and head.
        constraint_dim: Cz, the width of the constraint F; default C.
        offset_kernel_size: k of ψ's spatial conv (odd); DCA only.
        offset_conv: ``"depthwise"`` (1x1 then depthwise k x k, default) or ``"full"`` (k x k); DCA only.
        operator: ``"dca"`` or ``"da"``; the same name as in
            :func:`~posemods.modules.deformable_motion.deformable_motion` and BMD.
        qkv_bias: bias in W_q, W_z and W_v (DCA) or in the value projection (DA).
        backend: ``"auto"``, ``"reference"`` or ``"triton"`` for the sampling attention.
        reference_points: ``"constraint"`` or ``"grid"``; default ``"constraint"`` for DCA and
            ``"grid"`` for DA (which has no z).
        num_prefix_tokens: P tokens ahead of the grid, passed through unchanged.
        weights: deprecated name of ``operator`` (``"dot"`` / ``"predicted"``).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        num_points: int = 4,
        constraint_dim: int | None = None,
        offset_kernel_size: int = 3,
        offset_conv: OffsetConv = "depthwise",
        operator: Literal["dca", "da"] = "dca",
        qkv_bias: bool = True,
        backend: Literal["auto", "reference", "triton"] = "auto",
        *,
        reference_points: ReferencePointsMode | None = None,
        num_prefix_tokens: int = 0,
        weights: Literal["dot", "predicted"] | None = None,
    ) -> None:
        if weights is not None:
            expect_choice("weights", weights, tuple(WEIGHTS))
            warnings.warn(
                f"weights={weights!r} is deprecated: use operator={WEIGHTS[weights]!r}",
                DeprecationWarning,
                stacklevel=2,
            )
            operator = WEIGHTS[weights]
        expect_choice("operator", operator, ATTENTION_OPERATORS)
        config = MotionConfig(
            dim, num_heads, num_points, constraint_dim, offset_kernel_size, offset_conv, operator, qkv_bias, backend,
            reference_points,
        )  # fmt: skip
        super().__init__(config, num_prefix_tokens)
        if operator == "dca":
            self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)  # W_q
            self.z_proj = nn.Linear(self.constraint_dim, dim, bias=qkv_bias)  # W_z
            self.offsets = DeformableOffsets(dim, num_heads, num_points, offset_kernel_size, offset_conv)
            self.k_proj = nn.Linear(dim, dim, bias=False)  # W_k: a bias would cancel in the softmax
            self.v_proj = nn.Linear(dim, dim, bias=qkv_bias)  # W_v, its bias added after sampling
            self.out_proj = nn.Linear(dim, dim)
            if self.reference_points == "constraint":
                self.reference_proj = nn.Linear(dim, 2)  # z -> p_z's shift in pixels (dx, dy)
                nn.init.zeros_(self.reference_proj.weight)
                nn.init.zeros_(self.reference_proj.bias)
        else:
            # Deformable DETR's MSDeformAttn, one level: sampling_offsets, attention_weights,
            # value_proj and output_proj, initialised as its _reset_parameters does.
            self.offsets = QueryOffsets(dim, num_heads, num_points)
            self.point_weights = nn.Linear(dim, num_heads * num_points)
            self.v_proj = nn.Linear(dim, dim, bias=qkv_bias)
            self.out_proj = nn.Linear(dim, dim)
            nn.init.zeros_(self.point_weights.weight)
            nn.init.zeros_(self.point_weights.bias)
            for linear in (self.v_proj, self.out_proj):
                nn.init.xavier_uniform_(linear.weight)
                if linear.bias is not None:
                    nn.init.zeros_(linear.bias)

    @property
    def weights(self) -> str:
        """Deprecated: ``"dot"`` for DCA, ``"predicted"`` for DA; read :attr:`operator`."""
        return "dot" if self.operator == "dca" else "predicted"

    def forward_grid(self, x, constraint, hw, reference_points) -> torch.Tensor:
        """x (B, L, C) grid tokens, constraint (B, L, Cz) for DCA (None for DA), hw = (H, W),
        reference_points (B, L, 2) or None; checked by :meth:`forward`. Returns (B, L, C)."""
        batch, length, _ = x.shape
        heads, head_dim = self.num_heads, self.dim // self.num_heads
        if self.operator == "dca":
            query = self.q_proj(x)
            z = self.z_proj(constraint)
            offsets = self.offsets(query, z, hw)
            if self.reference_points == "constraint":
                reference_points = self._reference_from_z(z, hw, reference_points)
            locations = sampling_locations(offsets, hw, reference_points)
            key = F.linear(x, self.k_proj.weight).view(batch, *hw, heads, head_dim)
            value = F.linear(x, self.v_proj.weight).view(batch, *hw, heads, head_dim)
            query = query.view(batch, length, heads, head_dim)
            out = functional.deformable_cross_attention(query, key, value, locations, backend=self.backend)
            if self.v_proj.bias is not None:  # sampled, then the projection's bias (the weights sum to 1)
                out = out + self.v_proj.bias.view(heads, head_dim).to(out.dtype)
        else:
            locations = sampling_locations(self.offsets(x), hw, reference_points)
            value = self.v_proj(x).view(batch, *hw, heads, head_dim)
            attention = self.point_weights(x).view(batch, length, heads, self.num_points).softmax(-1)
            attention = attention.to(value.dtype)  # CUDA autocast runs softmax in float32
            out = functional.deformable_attention(value, locations, attention, backend=self.backend)
        return self.out_proj(out.reshape(batch, length, self.dim))

    def _reference_from_z(self, z: torch.Tensor, hw: tuple[int, int], base: torch.Tensor | None) -> torch.Tensor:
        """p_z = base + reference_proj(z) / (W, H): (B, L, 2) normalised (x, y), in at least float32.

        The same sum as the sampling locations (base: each query's pixel centre when None), with one
        point per query, so it is :func:`sampling_locations` of a (B, L, 1, 1, 2) shift."""
        return sampling_locations(self.reference_proj(z)[:, :, None, None, :], hw, base)[:, :, 0, 0]

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, num_points={self.num_points}, "
            f"constraint_dim={self.constraint_dim}, operator={self.operator!r}, "
            f"reference_points={self.reference_points!r}, num_prefix_tokens={self.num_prefix_tokens}, "
            f"backend={self.backend!r}"
        )

"""Fused Triton kernels for the keypoint mask (VREMD eq. 2).

``mask[b, l] = sum_j softmax_l(S[b, j, l])`` with ``S = scale * tokens @ feats^T``: tokens (B, J, C),
feats (B, L, C). The (J x L) map S is never written to memory, forward or backward: every kernel
recomputes its (BLOCK_J, BLOCK_L) tiles of S from the inputs, reducing over C in BLOCK_C chunks, so
any channel width works. All tiles have the same shape and reduction order, so the logits the
backward recomputes are bitwise those the forward normalised.

Forward, two passes:
  1. tokens    (per block of tokens): online max / sum over the positions -> lse[b, j] (fp32, saved);
  2. positions (per block of positions): mask[b, l] = sum_j exp(S[j, l] - lse[j]).

Backward, with g = dmask (B, L): dS[j, l] = P[j, l] * (g[l] - delta[j]) * scale, where
P = exp(S - lse) and delta[j] = sum_l P[j, l] g[l]. Three kernels, no atomics, so the gradients are
bitwise reproducible:
  3. delta     (per block of tokens): delta[b, j] (fp32);
  4. tokens    (per block of tokens x block of channels):    dtokens = dS @ feats;
  5. positions (per block of positions x block of channels): dfeats = dS^T @ tokens.
Kernels 4 and 5 own their output tile and reduce over the whole other axis, so nothing is shared
between programs; the price is that each channel block recomputes S, i.e. S is computed
``2 * cdiv(C, BLOCK_CO) + 1`` times in the backward. Atomics would avoid that recompute but make the
gradients depend on the order programs run; at HKM's sizes (J ~ 51, L ~ 576) the map is cheap to
recompute and determinism is worth more.

Dots go through :func:`posemods.triton._common.dot`. Probabilities and delta stay in fp32; dS is
rounded to the input dtype before its dots, as flash attention does.

The launchers write into outputs that the custom op allocates (:mod:`posemods._ops.keypoint_mask`, the
same allocation its fake returns), so nothing here imports the op layer above.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from posemods.triton._common import SUPPORTED_DTYPES, dot, dot_config, launch, program_blocks


@triton.jit
def _owned_tile(N, BLOCK: tl.constexpr, C, BLOCK_CO: tl.constexpr):
    """The gradient tile a backward program owns in a (B, N, C) input, all programs on grid axis 0:
    ``(b, idx, rows, rows_ok, out_ch, out_ok, offset)``, its batch element (int64), its BLOCK rows (in
    the block, and in the input) and which are < N, its BLOCK_CO channels and which are < C, and the
    int64 offset of its first row."""
    pid = tl.program_id(0)
    blocks = tl.cdiv(N, BLOCK)
    channel_blocks = tl.cdiv(C, BLOCK_CO)
    rest = pid // blocks
    b, block, ch_block = (rest // channel_blocks).to(tl.int64), pid % blocks, rest % channel_blocks
    idx = tl.arange(0, BLOCK)
    rows = block * BLOCK + idx
    out_ch = ch_block * BLOCK_CO + tl.arange(0, BLOCK_CO)
    return b, idx, rows, rows < N, out_ch, out_ch < C, (b * N + block * BLOCK) * C


@triton.jit
def _chunk(blk, idx, ok, ch, ch_ok, C):
    """The (rows ``idx``, channels ``ch``) chunk of a row-major (rows, C) map whose first row is at
    ``blk``; 0 where a row or channel is out of range. In-tile offsets stay int32 (see :func:`_logit_tile`)."""
    return tl.load(blk + idx[:, None] * C + ch[None, :], mask=ok[:, None] & ch_ok[None, :], other=0.0)


@triton.jit
def _store_chunk(blk, idx, ok, ch, ch_ok, C, value):
    """Store ``value`` into the chunk :func:`_chunk` reads, in the map's dtype."""
    tl.store(blk + idx[:, None] * C + ch[None, :], value.to(blk.dtype.element_ty), mask=ok[:, None] & ch_ok[None, :])


@triton.jit
def _logit_tile(
    tok_blk, row_ok, feat_blk, pos_ok, C,
    BLOCK_J: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """The (BLOCK_J, BLOCK_L) tile ``tokens @ feats^T`` (unscaled), reducing over C in BLOCK_C chunks.

    ``tok_blk`` and ``feat_blk`` point at the tile's first token and position: the caller forms those
    block offsets in int64 (``pos * C`` passes 2**31 on large maps), while the in-tile offsets, below
    ``BLOCK * C``, stay in int32 registers. Every kernel computes its logits here, in one order, so the
    backward's recomputed tiles are bitwise the forward's.
    """
    r = tl.arange(0, BLOCK_J)
    p = tl.arange(0, BLOCK_L)
    logits = tl.zeros((BLOCK_J, BLOCK_L), dtype=tl.float32)
    for c0 in range(0, C, BLOCK_C):
        ch = c0 + tl.arange(0, BLOCK_C)
        ch_ok = ch < C
        t = _chunk(tok_blk, r, row_ok, ch, ch_ok, C)
        f = _chunk(feat_blk, p, pos_ok, ch, ch_ok, C)
        logits = dot(t, tl.trans(f), logits, DOT_PRECISION, UPCAST)
    return logits


@triton.jit
def _probabilities(logits, lse, scale, keep):
    """``P = exp(scale * logits - lse)`` on one tile of :func:`_logit_tile`; 0 where ``keep`` is False
    (the padded rows or columns of the axis the caller sums over)."""
    return tl.where(keep, tl.exp(logits * scale - lse[:, None]), 0.0)


@triton.jit
def _gradient_step(
    acc, prob, g, delta, scale, other_blk, other_idx, other_ok, out_ch, out_ok, C,
    TRANSPOSE: tl.constexpr, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """``acc + dS @ other[:, out_ch]`` (``dS^T`` with TRANSPOSE) for one tile of
    ``dS = P * (g - delta) * scale``, rounded to the inputs' dtype before the dot as flash attention does;
    ``other`` is the input the gradient is taken against (feats for dtokens, tokens for dfeats)."""
    dlogits = (prob * (g[None, :] - delta[:, None]) * scale).to(other_blk.dtype.element_ty)
    other = _chunk(other_blk, other_idx, other_ok, out_ch, out_ok, C)
    if TRANSPOSE:
        acc = dot(tl.trans(dlogits), other, acc, DOT_PRECISION, UPCAST)
    else:
        acc = dot(dlogits, other, acc, DOT_PRECISION, UPCAST)
    return acc


@triton.jit
def _token_logsumexp_kernel(
    tok_ptr, feat_ptr, lse_ptr,
    J, L, C, scale,
    BLOCK_J: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    b, block = program_blocks(J, BLOCK_J)
    rows = block * BLOCK_J + tl.arange(0, BLOCK_J)
    row_ok = rows < J
    tok_blk = tok_ptr + (b * J + block * BLOCK_J) * C
    feat_base = feat_ptr + b * L * C

    run_max = tl.full((BLOCK_J,), float("-inf"), dtype=tl.float32)
    run_sum = tl.zeros((BLOCK_J,), dtype=tl.float32)
    for l0 in range(0, L, BLOCK_L):
        pos_ok = l0 + tl.arange(0, BLOCK_L) < L
        # int64 before the product (l0 * C passes 2**31 at large L * C). tl.cast, not ``C.to``: C = 1
        # reaches a compiled kernel as a Python int (Triton specialises an int argument equal to 1 to a
        # constexpr), and l0 is a Python int under the interpreter; tl.cast takes both.
        logits = _logit_tile(tok_blk, row_ok, feat_base + tl.cast(l0, tl.int64) * C, pos_ok, C,
                             BLOCK_J, BLOCK_L, BLOCK_C, DOT_PRECISION, UPCAST)  # fmt: skip
        logits = tl.where(pos_ok[None, :], logits * scale, float("-inf"))
        new_max = tl.maximum(run_max, tl.max(logits, axis=1))
        run_sum = run_sum * tl.exp(run_max - new_max) + tl.sum(tl.exp(logits - new_max[:, None]), axis=1)
        run_max = new_max
    tl.store(lse_ptr + b * J + rows, run_max + tl.log(run_sum), mask=row_ok)


@triton.jit
def _position_sum_kernel(
    tok_ptr, feat_ptr, lse_ptr, mask_ptr,
    J, L, C, scale,
    BLOCK_J: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    b, block = program_blocks(L, BLOCK_L)
    pos = block * BLOCK_L + tl.arange(0, BLOCK_L)
    pos_ok = pos < L
    tok_base = tok_ptr + b * J * C
    feat_blk = feat_ptr + (b * L + block * BLOCK_L) * C

    total = tl.zeros((BLOCK_L,), dtype=tl.float32)
    for j0 in range(0, J, BLOCK_J):
        rows = j0 + tl.arange(0, BLOCK_J)
        row_ok = rows < J
        logits = _logit_tile(tok_base + tl.cast(j0, tl.int64) * C, row_ok, feat_blk, pos_ok, C,
                             BLOCK_J, BLOCK_L, BLOCK_C, DOT_PRECISION, UPCAST)  # fmt: skip
        lse = tl.load(lse_ptr + b * J + rows, mask=row_ok, other=0.0)
        prob = _probabilities(logits, lse, scale, row_ok[:, None])
        total += tl.sum(prob, axis=0)
    tl.store(mask_ptr + b * L + pos, total.to(mask_ptr.dtype.element_ty), mask=pos_ok)


@triton.jit
def _token_delta_kernel(
    tok_ptr, feat_ptr, lse_ptr, grad_mask_ptr, delta_ptr,
    J, L, C, scale,
    BLOCK_J: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    b, block = program_blocks(J, BLOCK_J)
    rows = block * BLOCK_J + tl.arange(0, BLOCK_J)
    row_ok = rows < J
    tok_blk = tok_ptr + (b * J + block * BLOCK_J) * C
    feat_base = feat_ptr + b * L * C
    lse = tl.load(lse_ptr + b * J + rows, mask=row_ok, other=0.0)

    delta = tl.zeros((BLOCK_J,), dtype=tl.float32)
    for l0 in range(0, L, BLOCK_L):
        pos = l0 + tl.arange(0, BLOCK_L)
        pos_ok = pos < L
        logits = _logit_tile(tok_blk, row_ok, feat_base + tl.cast(l0, tl.int64) * C, pos_ok, C,
                             BLOCK_J, BLOCK_L, BLOCK_C, DOT_PRECISION, UPCAST)  # fmt: skip
        g = tl.load(grad_mask_ptr + b * L + pos, mask=pos_ok, other=0.0).to(tl.float32)
        prob = _probabilities(logits, lse, scale, pos_ok[None, :])
        delta += tl.sum(prob * g[None, :], axis=1)
    tl.store(delta_ptr + b * J + rows, delta, mask=row_ok)


@triton.jit
def _token_grad_kernel(
    tok_ptr, feat_ptr, lse_ptr, delta_ptr, grad_mask_ptr, grad_tok_ptr,
    J, L, C, scale,
    BLOCK_J: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_CO: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    # This program owns dtokens[rows, out_ch] and reduces over every position.
    b, r, rows, row_ok, out_ch, out_ok, tok_offset = _owned_tile(J, BLOCK_J, C, BLOCK_CO)
    feat_base = feat_ptr + b * L * C
    lse = tl.load(lse_ptr + b * J + rows, mask=row_ok, other=0.0)
    delta = tl.load(delta_ptr + b * J + rows, mask=row_ok, other=0.0)

    acc = tl.zeros((BLOCK_J, BLOCK_CO), dtype=tl.float32)
    for l0 in range(0, L, BLOCK_L):
        p = tl.arange(0, BLOCK_L)
        pos = l0 + p
        pos_ok = pos < L
        feat_blk = feat_base + tl.cast(l0, tl.int64) * C
        logits = _logit_tile(tok_ptr + tok_offset, row_ok, feat_blk, pos_ok, C,
                             BLOCK_J, BLOCK_L, BLOCK_C, DOT_PRECISION, UPCAST)  # fmt: skip
        g = tl.load(grad_mask_ptr + b * L + pos, mask=pos_ok, other=0.0).to(tl.float32)
        prob = _probabilities(logits, lse, scale, pos_ok[None, :])
        acc = _gradient_step(acc, prob, g, delta, scale, feat_blk, p, pos_ok, out_ch, out_ok, C,
                             False, DOT_PRECISION, UPCAST)  # fmt: skip
    _store_chunk(grad_tok_ptr + tok_offset, r, row_ok, out_ch, out_ok, C, acc)


@triton.jit
def _feature_grad_kernel(
    tok_ptr, feat_ptr, lse_ptr, delta_ptr, grad_mask_ptr, grad_feat_ptr,
    J, L, C, scale,
    BLOCK_J: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_CO: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    # This program owns dfeats[pos, out_ch] and reduces over every token.
    b, p, pos, pos_ok, out_ch, out_ok, feat_offset = _owned_tile(L, BLOCK_L, C, BLOCK_CO)
    tok_base = tok_ptr + b * J * C
    g = tl.load(grad_mask_ptr + b * L + pos, mask=pos_ok, other=0.0).to(tl.float32)

    acc = tl.zeros((BLOCK_L, BLOCK_CO), dtype=tl.float32)
    for j0 in range(0, J, BLOCK_J):
        r = tl.arange(0, BLOCK_J)
        rows = j0 + r
        row_ok = rows < J
        tok_blk = tok_base + tl.cast(j0, tl.int64) * C
        logits = _logit_tile(tok_blk, row_ok, feat_ptr + feat_offset, pos_ok, C,
                             BLOCK_J, BLOCK_L, BLOCK_C, DOT_PRECISION, UPCAST)  # fmt: skip
        lse = tl.load(lse_ptr + b * J + rows, mask=row_ok, other=0.0)
        delta = tl.load(delta_ptr + b * J + rows, mask=row_ok, other=0.0)
        prob = _probabilities(logits, lse, scale, row_ok[:, None])
        acc = _gradient_step(acc, prob, g, delta, scale, tok_blk, r, row_ok, out_ch, out_ok, C,
                             True, DOT_PRECISION, UPCAST)  # fmt: skip
    _store_chunk(grad_feat_ptr + feat_offset, p, pos_ok, out_ch, out_ok, C, acc)


def unsupported_reason(tokens: torch.Tensor, feats: torch.Tensor) -> str:
    """``""`` when the kernels handle these inputs, otherwise why not."""
    if tokens.dtype not in SUPPORTED_DTYPES:
        return f"dtype {tokens.dtype} is not one of the kernels' {SUPPORTED_DTYPES}"
    return ""


def launch_config(kernel: str = "scan") -> dict[str, int]:
    """Tiles and warps. ``"scan"`` kernels (1-3) stream the map; ``"grad"`` kernels (4, 5) also own a
    BLOCK_CO-wide slice of an input's gradient. Every kernel tiles the map alike (BLOCK_J x BLOCK_L,
    BLOCK_C channels at a time), so recomputed logits match the forward's bit for bit.

    From ptxas sweeps on sm_80/sm_90 (BLOCK_J 16/32, BLOCK_L 32/64, BLOCK_C 32/64, 4/8 warps, 1-3
    stages): 16 x 32 tiles with 32-channel chunks, 8 warps and no software pipelining are the only
    setting with zero spills in every kernel and dtype (44-64 registers in the scans); 64-wide tiles
    or 4 warps reach 150-255 registers and spill in fp32. BLOCK_CO=128 (95-111 registers, no spills)
    halves the backward's recomputation of the map against 64 (64-98 registers)."""
    config = {"BLOCK_J": 16, "BLOCK_L": 32, "BLOCK_C": 32, "num_warps": 8, "num_stages": 1}
    if kernel == "grad":
        config.update(BLOCK_CO=128)
    return config


def forward(tokens: torch.Tensor, feats: torch.Tensor, scale: float, *, mask: torch.Tensor, lse: torch.Tensor) -> None:
    """Write ``mask`` (B, L) in the inputs' dtype and ``lse`` (B, J) in fp32, which the backward needs, into
    the contiguous outputs the custom op allocated."""
    batch, joints, channels = tokens.shape
    positions = feats.shape[1]
    if batch == 0 or positions == 0:
        lse.fill_(float("-inf"))
        return
    if joints == 0:
        mask.zero_()
        return
    tokens, feats = tokens.contiguous(), feats.contiguous()
    config = {**launch_config("scan"), **dot_config(tokens.dtype)}
    sizes = (joints, positions, channels, scale)
    token_grid = (batch * triton.cdiv(joints, config["BLOCK_J"]),)
    launch(_token_logsumexp_kernel, token_grid, tokens, tokens, feats, lse, *sizes, **config)
    position_grid = (batch * triton.cdiv(positions, config["BLOCK_L"]),)
    launch(_position_sum_kernel, position_grid, tokens, tokens, feats, lse, mask, *sizes, **config)


def backward(
    grad_mask: torch.Tensor,
    tokens: torch.Tensor,
    feats: torch.Tensor,
    lse: torch.Tensor,
    scale: float,
    *,
    grad_tokens: torch.Tensor,
    grad_feats: torch.Tensor,
) -> None:
    """Write the gradients for tokens and feats into the contiguous outputs the custom op allocated."""
    batch, joints, channels = tokens.shape
    positions = feats.shape[1]
    grad_tokens.zero_()  # the kernels own every element, but not when a size is 0
    grad_feats.zero_()
    if batch == 0 or joints == 0 or positions == 0 or channels == 0:
        return
    # The incoming gradient may be an expanded (stride 0) view, e.g. from .sum().backward().
    grad_mask = grad_mask.contiguous()
    tokens, feats, lse = tokens.contiguous(), feats.contiguous(), lse.contiguous()
    scan = {**launch_config("scan"), **dot_config(tokens.dtype)}
    grad = {**launch_config("grad"), **dot_config(tokens.dtype)}
    sizes = (joints, positions, channels, scale)
    delta = torch.empty((batch, joints), device=tokens.device, dtype=torch.float32)
    token_blocks = triton.cdiv(joints, scan["BLOCK_J"])
    launch(_token_delta_kernel, (batch * token_blocks,), tokens, tokens, feats, lse, grad_mask, delta, *sizes, **scan)
    channel_blocks = triton.cdiv(channels, grad["BLOCK_CO"])
    launch(
        _token_grad_kernel, (batch * token_blocks * channel_blocks,), tokens,
        tokens, feats, lse, delta, grad_mask, grad_tokens, *sizes, **grad,
    )  # fmt: skip
    position_blocks = triton.cdiv(positions, grad["BLOCK_L"])
    launch(
        _feature_grad_kernel, (batch * position_blocks * channel_blocks,), tokens,
        tokens, feats, lse, delta, grad_mask, grad_feats, *sizes, **grad,
    )  # fmt: skip

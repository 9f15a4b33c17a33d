"""Canaries for Triton interpreter bugs that posemods works around.

Each test asserts the bug is still there. When one fails, upstream fixed it: delete the workaround
(named in the test) and this canary.
"""

import pytest
import torch
from conftest import requires_triton


@requires_triton
def test_interpreter_bf16_dot_is_still_broken():
    # triton-lang/triton#11584: the interpreter multiplies bf16 bit patterns in tl.dot.
    # Workaround: posemods.triton._common.dot upcasts bf16 operands when interpreting.
    import os

    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("only meaningful under the interpreter")
    import triton
    import triton.language as tl

    @triton.jit
    def matmul16(a_ptr, b_ptr, c_ptr):
        r = tl.arange(0, 16)
        a = tl.load(a_ptr + r[:, None] * 16 + r[None, :])
        b = tl.load(b_ptr + r[:, None] * 16 + r[None, :])
        tl.store(c_ptr + r[:, None] * 16 + r[None, :], tl.dot(a, b))

    a = torch.randint(-2, 3, (16, 16)).bfloat16()
    b = torch.randint(-2, 3, (16, 16)).bfloat16()
    c = torch.zeros(16, 16)
    matmul16[(1,)](a, b, c)
    assert not torch.allclose(c, a.float() @ b.float()), "fixed upstream: remove the UPCAST workaround"

"""The kernel configurations compiled ahead of time (``python -m posemods.triton.report``, and the test
that demands zero spills): per op, every dtype pairing, the default fp32 "ieee" dots and TF32, head dims
that pad, the largest tiles, and Triton's divisible-by-16 integer specialisation at the papers' sizes.

Kept out of the kernel modules, so importing a kernel never imports the compiler machinery; the report
(:mod:`posemods.triton.report`) compiles what this module lists and imports it, never the other way.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from posemods.triton import deformable_attention as da
from posemods.triton import deformable_cross_attention as dca
from posemods.triton import keypoint_mask as kpm
from posemods.triton import kinematics_attention as kmm


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """One configuration of one kernel to compile: a Triton signature plus its constexpr values."""

    name: str
    fn: Any
    signature: dict[str, str]
    constexprs: dict[str, Any]
    num_warps: int = 4
    num_stages: int = 2
    # Integer arguments Triton's launcher sees divisible by 16 (at the papers' shapes, e.g. P = 64 * 48):
    # it then compiles a specialisation with that hint, which is the variant that actually runs there.
    divisible: tuple[str, ...] = ()


def pointer_signature(**dtypes: str) -> dict[str, str]:
    """``{"x_ptr": "*fp32"}`` from ``x_ptr="fp32"``."""
    return {name: f"*{dtype}" for name, dtype in dtypes.items()}


def launched(
    name: str, fn: Any, signature: dict[str, str], launch_config: dict[str, Any], divisible=(), **constexprs: Any
) -> KernelSpec:
    """The spec of ``fn`` as its launcher runs it: ``launch_config`` is the launcher's own (its tiles are
    constexprs, its ``num_warps`` and ``num_stages`` go to the compiler); ``constexprs`` are the others."""
    tiles = dict(launch_config)
    warps, stages = tiles.pop("num_warps"), tiles.pop("num_stages")
    return KernelSpec(name, fn, signature, {**tiles, **constexprs}, warps, stages, tuple(divisible))


# Every kernel (an @triton.jit function that no other one calls: helpers are inlined into their callers)
# needs at least one spec here; tests/test_triton_aot.py finds the kernels from the source and checks it.


def kinematics_attention_specs() -> list[KernelSpec]:
    specs = []
    # fp32 with "ieee" dots is what runs by default (torch's matmul does not use TF32 unless asked);
    # "tf32" runs once a user allows it. Eq. 10's "sum" reading is compiled at the papers' J=17.
    variants = [
        ("fp32", "ieee", 17, False), ("fp32", "tf32", 17, False), ("fp32", "ieee", 133, False),
        ("fp32", "ieee", 17, True), ("bf16", "ieee", 17, False), ("bf16", "ieee", 133, False),
        ("fp16", "ieee", 17, False), ("fp16", "ieee", 133, True),
    ]  # fmt: skip
    # Triton's integer specialisation at the papers' maps (P = PV = 64 * 48, divisible by 16).
    variants += [(t, "ieee", 17, False, ("P", "PV")) for t in ("fp32", "bf16")]
    for tname, precision, joints, sum_norm, *divisible in variants:
        divisible = tuple(divisible[0]) if divisible else ()
        fp32_ieee = tname == "fp32" and precision == "ieee"
        dots = {"DOT_PRECISION": precision, "UPCAST": False}
        sizes = {"J": "i32", "P": "i32", "PV": "i32"}
        tag = f"{tname} {precision}, J={joints}" + (", sum" if sum_norm else "") + (", P%16=0" if divisible else "")
        specs += [
            launched(
                f"kmm_forward ({tag})", kmm._forward_kernel,
                {**pointer_signature(q_ptr=tname, k_ptr=tname, v_ptr=tname, pred_ptr=tname, attn_ptr="fp32",
                                     norm_ptr="fp32"),
                 **sizes, "scale": "fp32"},
                kmm.launch_config(joints, fp32_ieee), divisible, **dots, SUM_NORM=sum_norm,
            ),
            launched(
                f"kmm_backward_rows ({tag})", kmm._backward_rows_kernel,
                {**pointer_signature(grad_pred_ptr=tname, grad_attn_ptr="fp32", k_ptr=tname, v_ptr=tname,
                                     attn_ptr="fp32", norm_ptr="fp32", dlogits_ptr="fp32", grad_q_ptr=tname),
                 **sizes, "scale": "fp32"},
                kmm.launch_config(joints, fp32_ieee, "rows"), divisible, **dots, HAS_GRAD_ATTN=True,
                SUM_NORM=sum_norm,
            ),
        ]  # fmt: skip
        if not sum_norm:  # the columns kernel does not depend on the normalisation
            specs.append(
                launched(
                    f"kmm_backward_cols ({tag})", kmm._backward_cols_kernel,
                    {**pointer_signature(grad_pred_ptr=tname, q_ptr=tname, attn_ptr="fp32", dlogits_ptr="fp32",
                                         grad_k_ptr=tname, grad_v_ptr=tname), **sizes},
                    kmm.launch_config(joints, fp32_ieee, "cols"), divisible, **dots,
                )
            )  # fmt: skip
    return specs


def keypoint_mask_specs() -> list[KernelSpec]:
    sizes = {"J": "i32", "L": "i32", "C": "i32", "scale": "fp32"}
    specs = []
    # fp32 "ieee" is what runs by default (torch's matmul uses TF32 only when asked), "tf32" once allowed.
    # The last two: Triton's integer specialisation at VREMD's sizes (L = 576, C = 1,024, divisible by 16).
    variants = [("fp32", "ieee", ()), ("fp32", "tf32", ()), ("bf16", "ieee", ()), ("fp16", "ieee", ())]
    variants += [("fp32", "ieee", ("L", "C")), ("bf16", "ieee", ("L", "C"))]
    for tname, precision, divisible in variants:
        dots = {"DOT_PRECISION": precision, "UPCAST": False}
        pointers = {
            kpm._token_logsumexp_kernel: dict(tok_ptr=tname, feat_ptr=tname, lse_ptr="fp32"),
            kpm._position_sum_kernel: dict(tok_ptr=tname, feat_ptr=tname, lse_ptr="fp32", mask_ptr=tname),
            kpm._token_delta_kernel: dict(
                tok_ptr=tname, feat_ptr=tname, lse_ptr="fp32", grad_mask_ptr=tname, delta_ptr="fp32"
            ),
            kpm._token_grad_kernel: dict(
                tok_ptr=tname, feat_ptr=tname, lse_ptr="fp32", delta_ptr="fp32", grad_mask_ptr=tname,
                grad_tok_ptr=tname,
            ),
            kpm._feature_grad_kernel: dict(
                tok_ptr=tname, feat_ptr=tname, lse_ptr="fp32", delta_ptr="fp32", grad_mask_ptr=tname,
                grad_feat_ptr=tname,
            ),
        }  # fmt: skip
        for kernel, ptrs in pointers.items():
            name = kernel.fn.__name__.strip("_").removesuffix("_kernel")
            specs.append(
                launched(
                    f"keypoint_mask {name} ({tname} {precision}{', L%16=C%16=0' if divisible else ''})",
                    kernel,
                    {**pointer_signature(**ptrs), **sizes},
                    kpm.launch_config("grad" if name.endswith("grad") else "scan"),
                    divisible,
                    **dots,
                )
            )
    return specs


def deformable_cross_attention_specs() -> list[KernelSpec]:
    specs = []
    sizes = {name: "i32" for name in ("Lq", "H", "W", "G", "N")}
    # (feature dtype, locations dtype, D, Dv): the module passes float32 locations with half features.
    # Each head dim gets its own constexpr specialisation; these cover the padding cases (8 -> 16, 48/24),
    # the largest tile (256) and every dtype pairing while keeping the suite's compile time down.
    cases = [
        ("fp32", "fp32", 8, 8), ("fp32", "fp32", 48, 24), ("fp32", "fp32", 256, 256),
        ("bf16", "fp32", 32, 32), ("fp16", "fp32", 64, 64), ("bf16", "bf16", 128, 128),
    ]  # fmt: skip
    # VREMD's sizes (Lq = 64 * 48, H = 64, W = 48: Triton's divisible-by-16 integer specialisation).
    cases += [("fp32", "fp32", 32, 32, ("Lq", "H", "W")), ("bf16", "fp32", 32, 32, ("Lq", "H", "W"))]
    for tname, lname, dim, dim_v, *divisible in cases:
        divisible = tuple(divisible[0]) if divisible else ()
        tag = f"{tname} features, {lname} locations, D={dim}, Dv={dim_v}" + (", Lq%16=H%16=W%16=0" if divisible else "")
        signatures = {
            "forward": pointer_signature(q_ptr=tname, k_ptr=tname, v_ptr=tname, loc_ptr=lname, out_ptr=tname,
                                         lse_ptr="fp32"),
            "backward": pointer_signature(q_ptr=tname, k_ptr=tname, v_ptr=tname, loc_ptr=lname, out_ptr=tname,
                                          grad_out_ptr=tname, lse_ptr="fp32", grad_q_ptr=tname, grad_k_ptr="fp32",
                                          grad_v_ptr="fp32", grad_loc_ptr=lname),
        }  # fmt: skip
        for kernel, fn in (("forward", dca._forward_kernel), ("backward", dca._backward_kernel)):
            signature = {**signatures[kernel], **sizes, "scale": "fp32"}
            config = dca.launch_config(dim, dim_v, kernel)
            specs.append(launched(f"dca_{kernel} ({tag})", fn, signature, config, divisible, D=dim, DV=dim_v))
    return specs


def deformable_attention_specs() -> list[KernelSpec]:
    specs = []
    sizes = {name: "i32" for name in ("Lq", "H", "W", "G", "N")}
    # (value dtype, locations dtype, Dv): the module passes float32 locations with half values.
    # The last: VREMD's sizes (Lq = 64 * 48, H = 64, W = 48: Triton's divisible-by-16 specialisation).
    cases = [
        ("fp32", "fp32", 8, ()), ("fp32", "fp32", 24, ()), ("bf16", "fp32", 32, ()), ("fp16", "fp32", 256, ()),
        ("bf16", "fp32", 32, ("Lq", "H", "W")),
    ]  # fmt: skip
    for tname, lname, dim_v, divisible in cases:
        tag = f"{tname} values, {lname} locations, Dv={dim_v}" + (", Lq%16=H%16=W%16=0" if divisible else "")
        signatures = {
            "forward": pointer_signature(v_ptr=tname, loc_ptr=lname, attn_ptr=tname, out_ptr=tname),
            "backward": pointer_signature(v_ptr=tname, loc_ptr=lname, attn_ptr=tname, grad_out_ptr=tname,
                                          grad_v_ptr="fp32", grad_loc_ptr=lname, grad_attn_ptr=tname),
        }  # fmt: skip
        for kernel, fn in (("forward", da._forward_kernel), ("backward", da._backward_kernel)):
            config = da.launch_config(dim_v, kernel)
            specs.append(
                launched(f"da_{kernel} ({tag})", fn, {**signatures[kernel], **sizes}, config, divisible, DV=dim_v)
            )
    return specs


def sizes_of_one(specs: list[KernelSpec]) -> list[KernelSpec]:
    """Each kernel's first spec again with every integer size equal to 1, which Triton's launcher passes as
    a constexpr, not an i32: ``native_specialize_impl(backend, 1, ...)`` returns ``("constexpr", 1)``
    (triton/runtime/jit.py, ``create_function_from_signature``). The size then reaches the kernel as a
    Python int, so ``W.to(tl.float32)`` fails to compile where the interpreter (which never specialises)
    runs it. A 1 x 1 map, a single channel or a single joint must compile all the same."""
    first: dict[object, KernelSpec] = {}
    for spec in specs:
        first.setdefault(spec.fn, spec)
    return [
        dataclasses.replace(
            spec,
            name=f"{spec.name.split(' (')[0]} (every size = 1, constexpr)",
            constexprs={**spec.constexprs, **{n: 1 for n, t in spec.signature.items() if t == "i32"}},
            divisible=(),
        )
        for spec in first.values()
    ]


def all_specs() -> list[KernelSpec]:
    specs = [
        *kinematics_attention_specs(),
        *keypoint_mask_specs(),
        *deformable_cross_attention_specs(),
        *deformable_attention_specs(),
    ]
    return specs + sizes_of_one(specs)

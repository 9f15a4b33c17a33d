"""Model suite: per-frame latency and parameters of the reference models, at the papers' input sizes.

KIMNet, RPSTN, DKD and LSTMPM (each with its own temporal block and retrofitted with KMM) predict every
frame of a T = 5 clip, so their times are divided by 5; VREMD predicts the key frame of a 3-frame clip,
so its time is per clip. Inference only (eval mode, ``torch.inference_mode``). KIMNet's Table 1 gives
params and per-frame GPU times; we print them beside ours, and the ratios are what compare.

Each row says what was built, read off the model: the shape label carries the input size and the
``backbones`` column the backbones (``--quick`` builds ResNet-18s at 64 x 64, and says so). On CPU only
B = 1 is timed: at the papers' sizes one B = 8 step takes 20 s to 3.5 min there, five of them per row.
"""

from __future__ import annotations

import functools

import torch

from benchmarks.harness import Case, dtype_name, make_step

# KIMNet Table 1 (Penn Action): params (M), per-frame time (ms, GPU).
PAPER = {"LSTMPM": (231.5, 25), "DKD": (219.92, 11), "RPSTN": (222.17, 12), "KIMNet": (214.70, 10)}


def _model(name, temporal, quick):
    from posemods.models import DKD, LSTMPM, RPSTN, VREMD, VREMD_TABLE4, KIMNet

    # quick: small backbones and inputs, to exercise the machinery in a smoke test
    small = {"initializer_backbone": "resnet18", "encoder_backbone": "resnet18", "channels": 32} if quick else {}
    clip = (5, 64, 64) if quick else (5, 256, 256)
    if name == "KIMNet":
        return KIMNet(13, temporal=temporal, **small), clip
    if name in ("RPSTN", "DKD"):
        return {"RPSTN": RPSTN, "DKD": DKD}[name](13, temporal=temporal, **small), clip
    if name == "LSTMPM":
        return LSTMPM(13, temporal=temporal), (5, 96, 96) if quick else (5, 368, 368)
    if quick:
        return VREMD(17, "micro", img_size=(64, 48), **VREMD_TABLE4[temporal]), (3, 64, 48)
    return VREMD(17, "large", **VREMD_TABLE4[temporal]), (3, 256, 192)


def _build(name, temporal, batch, quick, device, dtype):
    torch.manual_seed(0)
    model, (frames, height, width) = _model(name, temporal, quick)
    model = model.to(device, dtype).eval()
    video = torch.randn(batch, frames, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device, dtype)

    def call():
        with torch.inference_mode():
            return model(video)

    return make_step(call, [], backward=False)


def backbones(model) -> str:
    """The backbones ``model`` was built with, as the rows and the targets name them."""
    encoder = getattr(model, "encoder", None)
    if hasattr(encoder, "backbone"):  # KIMNet, RPSTN, DKD: the pose initializer's, then the encoder's
        return f"{model.initializer.backbone.name} / {encoder.backbone.name}"
    if hasattr(model, "backbone"):  # VREMD
        return f"ViT-{model.backbone.preset}"
    return "CPM stages"  # LSTMPM: its own convolutions, no backbone


def _describe(name, temporal, quick) -> tuple[dict[str, str], tuple[int, int, int]]:
    """Backbones and parameters of the model a case builds, read off one built on the meta device, and
    the (T, H, W) of its clip."""
    with torch.device("meta"):  # counting needs shapes, not memory or time
        model, clip = _model(name, temporal, quick)
    params = f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}"
    return {"backbones": backbones(model), "params (M)": params}, clip


CONFIGS = [
    ("KIMNet", "kmm"), ("KIMNet", "none"),
    ("RPSTN", "original"), ("RPSTN", "kmm"),
    ("DKD", "original"), ("DKD", "kmm"),
    ("LSTMPM", "original"), ("LSTMPM", "kmm"),
    ("VREMD", "baseline"), ("VREMD", "hkm"), ("VREMD", "bmd"), ("VREMD", "hkm+bmd"),
]  # fmt: skip


def cases(device: str, dtype: torch.dtype, quick: bool) -> list[Case]:
    configs = [("KIMNet", "kmm"), ("RPSTN", "original"), ("VREMD", "hkm+bmd")] if quick else CONFIGS
    batches = (1, 8) if device == "cuda" and not quick else (1,)
    out = []
    for name, temporal in configs:
        info, (frames, height, width) = _describe(name, temporal, quick)
        if name in PAPER and temporal in ("kmm" if name == "KIMNet" else "original",) and not quick:
            info |= {"paper params (M)": f"{PAPER[name][0]}", "paper ms/frame (GPU)": f"{PAPER[name][1]}"}
        for batch in batches:
            out.append(
                Case(
                    suite="models", module=name, provider=f"temporal={temporal}" if name != "VREMD" else temporal,
                    shape=f"B={batch} T={frames} {height}x{width}", mode="inference", device=device,
                    dtype=dtype_name(dtype), frames=1 if name == "VREMD" else frames, info=info,
                    memory=batch == 1,  # a fresh process per B=8 paper-size model costs minutes
                    baseline=temporal in ("original", "baseline") or (name == "KIMNet" and temporal == "none"),
                    build=functools.partial(_build, name, temporal, batch, quick, device, dtype),
                )
            )  # fmt: skip
    return out

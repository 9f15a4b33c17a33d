"""What the two VREMD experiments (``corrupted_key_frame``, ``hkm_masks``) share: the model as the
CLIs build it, cached clips in 8-bit frames, key-frame PCK, and the test-time switches of the
diagnostics (BMD's output zeroed, HKM's masks all ones, one head alone, the supporting frames
replaced by the key frame).

Not an experiment of its own (``__main__`` does not list it); ``common`` stays the lead's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from benchmarks.evidence import common
from benchmarks.evidence.common import cached
from posemods.metrics import decode_heatmaps, heatmap_to_image
from posemods.metrics.pck import pck_hits
from posemods.models import get_model_spec

#: The frames, the model and the frozen backbone every VREMD experiment shares. The small preset's own
#: backbone (a 12-block ViT-Tiny) trained from scratch predicts the mean pose after the steps one CPU
#: affords; a 4-block, 96-wide ViT pretrained on single frames learns where the person is ("" as
#: ``backbone`` keeps the preset's).
BACKBONE_DEFAULTS = {
    "size": (64, 64),
    "patch": 8,
    "preset": "small",
    "backbone": "vit_tiny_patch16_224",
    "backbone_dim": 96,
    "backbone_depth": 4,
    "backbone_heads": 4,
    "pretrain_steps": 4000,
    "pretrain_lr": 1e-3,
    "pretrain_clips": 2000,
}
#: What every VREMD experiment's ``--quick`` shrinks: it checks that the code runs, and shows nothing.
QUICK_SIZES = {
    "size": (32, 32),
    "backbone_dim": 32,
    "backbone_depth": 1,
    "backbone_heads": 2,
    "pretrain_steps": 2,
    "pretrain_clips": 4,
    "train_clips": 8,
    "eval_clips": 4,
    "steps": 2,
    "batch_size": 2,
    "warmup": 1,
}


def cache_dir() -> Path:
    """The VREMD experiments' part of the evidence cache: generated clips, trained models, records."""
    return common.cache_dir() / "vremd"


IDENTITY = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)

#: Which clip tensors a VREMD experiment keeps (frames as uint8, the rest as the clip has them).
KEEP = ("frames", "heatmaps", "target_weight", "joints", "person_size")


def build_vremd(variant: str, num_joints: int, frames: int, settings: dict, backbone: dict | None = None) -> nn.Module:
    """VREMD as ``python -m posemods.train --model vremd --variant <variant> --preset <preset>``
    builds it, for ``frames`` frames of ``settings["size"]`` with patch ``settings["patch"]``; the
    backbone is ``settings["backbone"]`` (a timm ViT name, with ``backbone_dim`` / ``_depth`` /
    ``_heads``) or, when that is empty, the preset's. With ``backbone`` (a state_dict of the ViT from
    :func:`pretrained_backbone`) the backbone is loaded and frozen, as the paper trains."""
    overrides = {}
    if settings["backbone"]:
        overrides["backbone"] = settings["backbone"]
        overrides["backbone_kwargs"] = {
            "embed_dim": settings["backbone_dim"],
            "depth": settings["backbone_depth"],
            "num_heads": settings["backbone_heads"],
        }
    # Frozen exactly when pretrained weights are given; otherwise it trains, whatever the preset says
    # (the "paper" preset freezes its ViT-L, which has no weights to freeze here).
    overrides["freeze_backbone"] = backbone is not None
    model = get_model_spec("vremd").create(
        num_joints,
        variant=variant,
        preset=settings["preset"],
        input_size=tuple(settings["size"]),
        clip_length=frames,
        patch_size=settings["patch"],
        **overrides,
    )
    if backbone is not None:
        model.backbone.vit.load_state_dict(backbone)
    return model


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def record_model_path(name: str, key: dict) -> Path:
    """Where :func:`cached_record` keeps the model of the record ``(name, key)``."""
    return cache_dir() / f"{name}-{_digest(key)}.model.pt"


def cached_record(name: str, key: dict, make) -> dict:
    """``make(model_path)``'s JSON record (one trained row and seed), kept under :func:`cache_dir` by a
    digest of ``key``: an interrupted run resumes where it stopped, and a row added later trains alone.
    ``make`` saves the trained model's state_dict at ``model_path``, for diagnostics added later."""
    path = cache_dir() / f"{name}-{_digest(key)}.json"
    if path.exists():
        return json.loads(path.read_text())
    cache_dir().mkdir(parents=True, exist_ok=True)
    record = make(record_model_path(name, key))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, default=float))
    tmp.replace(path)
    return record


#: The settings a pretrained backbone depends on, besides its data.
BACKBONE_KEYS = (
    "size", "patch", "preset", "backbone", "backbone_dim", "backbone_depth", "backbone_heads", "sigma",
    "pretrain_steps", "pretrain_lr", "pretrain_clips", "batch_size", "warmup",
)  # fmt: skip


def pretrained_backbone(settings: dict, name: str, make_clips, data_key: dict, device: str = "cpu") -> dict:
    """The paper trains VREMD on a frozen, pretrained ViT (COCO-pretrained ViT-L). Here: VREMD's
    ``baseline`` row (the ViT and a deconvolution head, ViTPose) trained on the key frames of
    ``make_clips()`` (clean clips of a dataset seed of their own) for ``pretrain_steps``, seed 0; made
    once and cached, then shared by every row and seed. Returns ``{"vit": ViT state_dict, "model":
    the whole baseline's state_dict, "seconds": tensor}``."""

    def make() -> dict:
        from benchmarks.evidence.common import train

        data = make_clips()
        torch.manual_seed(0)
        model = build_vremd("baseline", data["heatmaps"].shape[2], 1, settings)
        log = train(
            model, data, make_predict(1), settings["pretrain_steps"], settings["batch_size"],
            settings["pretrain_lr"], 0, warmup=settings["warmup"], device=device,
        )  # fmt: skip
        model.cpu()
        return {
            "vit": model.backbone.vit.state_dict(),
            "model": model.state_dict(),
            "seconds": torch.tensor(log.seconds),
        }

    key = {k: settings[k] for k in BACKBONE_KEYS} | {"data": data_key, "version": 1}
    return cached(name, make, key, cache_dir())


def heatmap_size(settings: dict) -> tuple[int, int]:
    """VREMD's heatmaps are 4 per token: (4 H / P, 4 W / P)."""
    height, width = settings["size"]
    return (4 * height // settings["patch"], 4 * width // settings["patch"])


def to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """Frames in [0, 1] as 8-bit, the way video stores them (and a quarter of the memory)."""
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8)


def to_float(frames: torch.Tensor) -> torch.Tensor:
    return frames.float() / 255 if frames.dtype == torch.uint8 else frames


def key_frames(frames: int) -> slice:
    """The frames a T-frame model reads from a 3-frame clip: all three, or the key frame alone."""
    return slice(0, 3) if frames == 3 else slice(1, 2)


def make_predict(frames: int):
    """``predict(model, batch) -> (pred, target, weight)`` for :func:`common.train`: the key frame's
    heatmaps against its targets, as (B, 1, J, h, w)."""

    def predict(model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        video = to_float(batch["frames"][:, key_frames(frames)])
        pred = model(video).unsqueeze(1)
        return pred, batch["heatmaps"][:, 1:2], batch["target_weight"][:, 1:2]

    return predict


@torch.no_grad()
def key_frame_hits(
    model: nn.Module,
    data: dict,
    frames: int,
    alpha: float = 0.2,
    batch_size: int = 32,
    video=None,
    return_pred: bool = False,
) -> tuple[torch.Tensor, ...]:
    """``(correct (N, J), counted (N, J))`` of PCK@alpha on the key frame of every clip of ``data``,
    normalised by the person's size; a joint is counted where it has a heatmap target (inside the
    frame), visible or not: hidden joints are the point. ``video(batch) -> (B, T, 3, H, W)`` replaces
    the frames the model reads (default: the clip's own). ``return_pred`` adds the predicted joints
    (N, J, 2) in frame pixels."""
    model.eval()
    correct, counted, predicted = [], [], []
    num = data["frames"].shape[0]
    for start in range(0, num, batch_size):
        batch = {k: v[start : start + batch_size] for k, v in data.items()}
        inputs = to_float(batch["frames"][:, key_frames(frames)]) if video is None else video(batch)
        heatmaps = model(inputs)
        coords, _ = decode_heatmaps(heatmaps)  # (B, J, 2) in heatmap pixels
        # Synthetic clips are their own crops: the affine is the identity.
        pred = heatmap_to_image(coords.double(), IDENTITY, tuple(heatmaps.shape[-2:]), batch["frames"].shape[-2:])
        hit, count = pck_hits(
            pred, batch["joints"][:, 1].double(), batch["target_weight"][:, 1], batch["person_size"][:, 1], alpha
        )
        correct.append(hit)
        counted.append(count)
        predicted.append(pred)
    if return_pred:
        return torch.cat(correct), torch.cat(counted), torch.cat(predicted)
    return torch.cat(correct), torch.cat(counted)


def spread(pred: torch.Tensor, data: dict) -> float:
    """How much the predicted key-frame joints (N, J, 2) move from clip to clip, as a share of how much
    the true ones do (std over clips, averaged over joints and axes): about 1 for a model that reads the
    image, 0 for one that outputs the same pose whatever it sees."""
    inside = data["target_weight"][:, 1] > 0
    ratios = []
    for joint in range(pred.shape[1]):
        rows = inside[:, joint]
        if rows.sum() > 1:
            truth = data["joints"][rows, 1, joint].double()
            ratios.append((pred[rows, joint].double().std(0) / truth.std(0).clamp(min=1e-9)).mean())
    return float(torch.stack(ratios).mean()) if ratios else math.nan


def pck(correct: torch.Tensor, counted: torch.Tensor, joints: torch.Tensor | None = None) -> float:
    """PCK in % over the counted joints where ``joints`` (N, J) bool is set (all when None)."""
    mask = counted > 0 if joints is None else (counted > 0) & joints
    total = int(mask.sum())
    return float("nan") if total == 0 else 100.0 * float(correct[mask].sum()) / total


@contextlib.contextmanager
def bmd_zeroed(model: nn.Module) -> Iterator[None]:
    """BMD's output M replaced by zeros: VREMD's aggregate then sees ``[F_t; 0]``."""
    if model.bmd is None:
        yield
        return
    handle = model.bmd.register_forward_hook(lambda module, args, output: torch.zeros_like(output))
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def masks_off(model: nn.Module) -> Iterator[None]:
    """HKM's human and keypoint masks all ones (Table 5 (a) at test time, the trained weights kept)."""
    hkm = model.hkm
    saved = (hkm.human_mask, hkm.keypoint_mask)
    hkm.human_mask = hkm.keypoint_mask = False
    try:
        yield
    finally:
        hkm.human_mask, hkm.keypoint_mask = saved


@contextlib.contextmanager
def human_mask_as(model: nn.Module, transform) -> Iterator[None]:
    """HKM's human mask replaced at test time by ``transform(Mask_h)`` (its sign, its magnitude ...).

    Eq. 1 is computed here again, as :meth:`~posemods.HumanKeypointMask.human_step` computes it, with
    the transform between the mask and the product; ``transform`` = identity gives the model itself
    (a test checks it)."""
    hkm = model.hkm

    def human_step(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, frames, positions, channels = feats.shape
        token = hkm.human_token.to(feats.dtype).expand(batch, frames, 1, channels)
        x = torch.cat([feats, token], dim=2).flatten(0, 1)
        for block in hkm.human_blocks:
            x = block(x)
        feats_bar, human_token = x[:, :positions], x[:, positions:]
        mask = transform((feats_bar @ human_token.transpose(1, 2)).squeeze(-1))
        coarse = feats_bar * mask.unsqueeze(-1)
        return coarse.view(batch, frames, positions, channels), mask.view(batch, frames, positions)

    hkm.human_step = human_step  # an instance attribute: it shadows the method until deleted
    try:
        yield
    finally:
        del hkm.human_step


def mask_scale_invariance(model: nn.Module, data: dict, clips: int = 16) -> float:
    """How much HKM's keypoint tokens change, after its first joint block, when every image token of
    F_c is multiplied by its own random factor in [0.1, 10] (what a positive human mask does to it):
    the largest relative change. The blocks are pre-norm, so the keys and values the keypoint tokens
    read are LayerNorm(F_c), which no positive per-token factor changes."""
    hkm = model.hkm
    with torch.no_grad():
        frames = to_float(data["frames"][:clips])
        feats = model.backbone(frames.flatten(0, 1)).unflatten(0, frames.shape[:2])
        coarse, _ = hkm.human_step(feats)
        batch, count, positions, channels = coarse.shape
        joints = hkm.num_joints
        tokens = hkm.keypoint_tokens.to(coarse.dtype).expand(batch, count, joints, channels)
        factor = torch.exp(torch.empty(batch, count, positions, 1).uniform_(math.log(0.1), math.log(10.0)))
        outs = []
        for image in (coarse, coarse * factor):
            x = torch.cat([image, tokens], dim=2).reshape(batch, count * (positions + joints), channels)
            x = hkm.joint_blocks[0](x).view(batch, count, positions + joints, channels)
            outs.append(x[:, :, positions:])
        return float(((outs[1] - outs[0]).norm(dim=-1) / outs[0].norm(dim=-1)).max())


@contextlib.contextmanager
def one_head(model: nn.Module, head: str) -> Iterator[None]:
    """Only H_k (``"keypoint"``) or only H_m (``"motion"``) in VREMD's sum ``H = H_k + H_m``: the
    other head's output is replaced by zeros."""
    other = model.motion_head if head == "keypoint" else model.keypoint_head
    handle = other.register_forward_hook(lambda module, args, output: torch.zeros_like(output))
    try:
        yield
    finally:
        handle.remove()


def key_frame_everywhere(batch: dict) -> torch.Tensor:
    """The clip's three frames replaced by its key frame three times: no motion, nothing from the
    supporting frames, the key frame as it is."""
    key = to_float(batch["frames"][:, 1:2])
    return key.expand(-1, 3, -1, -1, -1)


def grad_norms(model: nn.Module, batch: dict, predict) -> dict[str, float]:
    """One backward pass of the heatmap loss on ``batch``: the gradient's norm on each part's
    parameters, and on HKM's two masks themselves (the tensors eq. 1 and 2 produce)."""
    from posemods.training.loop import heatmap_loss

    masks: dict[str, torch.Tensor] = {}

    def keep(module, args, output):
        # HKM returns a view of each mask, which nothing downstream reads; the gradient flows into
        # the tensor the view was taken of, so hook the node that made that tensor.
        for name in ("human_mask", "keypoint_mask"):
            tensor = getattr(output, name)
            if tensor.grad_fn is None:  # a mask that is off is all ones, outside the graph
                continue
            node = tensor.grad_fn.next_functions[0][0]
            node.register_hook(lambda grad_in, grad_out, name=name: masks.__setitem__(name, grad_out[0]))

    handle = model.hkm.register_forward_hook(keep) if model.hkm is not None else None
    model.train()
    model.zero_grad(set_to_none=True)
    try:
        pred, target, weight = predict(model, batch)
        heatmap_loss(pred, target, weight).backward()
    finally:
        if handle is not None:
            handle.remove()
    parts = {
        "backbone": model.backbone,
        "hkm": model.hkm,
        "hkm.human_token": None,
        "bmd": model.bmd,
        "keypoint_head (H_k)": model.keypoint_head,
        "aggregate": model.aggregate,
        "motion_head (H_m)": model.motion_head,
    }
    out = {}
    for name, part in parts.items():
        if name == "hkm.human_token":
            grads = [model.hkm.human_token.grad] if model.hkm is not None else []
        else:
            grads = [p.grad for p in part.parameters()] if part is not None else []
        grads = [g for g in grads if g is not None]
        out[name] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads))) if grads else float("nan")
    for name in ("human_mask", "keypoint_mask"):
        out[f"d loss / d {name}"] = float(masks[name].norm()) if name in masks else math.nan
    model.zero_grad(set_to_none=True)
    return out

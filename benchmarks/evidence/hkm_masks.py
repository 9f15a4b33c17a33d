"""What HKM's masks learn: do they find the person and its joints?

VREMD's HKM (vremd.txt eq. 1-2) makes a human mask per frame, ``Mask_h = F̄ T̄_hᵀ`` (one value per
token, any sign, no squashing), and a keypoint mask, ``Mask_k = sum_j softmax(T̂_kj F̂ᵀ)`` (per token,
non-negative, summing to T J over a clip's T L tokens). The paper calls them a "coarse" selection of
the target human and a "finer filtering of keypoint-related features". Nothing in the paper
supervises them: its only loss is the heatmap loss on H (eq. 5), so whatever they become, they become
because it lowers that loss.

The generator knows the person's silhouette (:meth:`~posemods.data.SyntheticPoseVideos.silhouette`)
and its joints, and draws distractor people behind it (``distractors``). At token resolution (one
token per ``patch`` x ``patch`` pixels):

- a token is *person* where at least ``coverage`` of its pixels show the person;
- a token is *near a joint* where its patch lies within ``joint_radius`` pixels of one of the
  person's joints in that frame.

Scores, over every frame of the held-out clips (each of the T frames has its own masks):

- human mask: the IoU of its top-k tokens with the k person tokens (by value, and by magnitude, since
  the mask multiplies features and a large negative value selects as much as a large positive one);
  the share of its mass (``|Mask_h|``) on person tokens;
- keypoint mask: the share of its mass on tokens near a joint.

Compared: the untrained model (the same seed's initial weights), the trained model (VREMD, ``variant``),
a uniform mask (its expected IoU is a random k-subset's) and a centre prior (a Gaussian around the
frame's centre, where the generator puts people): a mask that knows no more than where people usually
are. Optionally (``mask_loss_weight > 0``, not in the paper) a third model trains with a binary
cross-entropy between ``sigmoid(Mask_h)`` and the person tokens added to the heatmap loss, to show
whether the human mask can find the person when told to and what that does to PCK.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.evidence import _vremd
from benchmarks.evidence.common import (
    cached,
    fmt,
    fmt_paired,
    is_committed_run,
    mean_sd,
    paired,
    run_info,
    train,
    write,
)  # fmt: skip
from posemods.data import SyntheticPoseVideos

NAME = "hkm_masks"
MODELS = ("untrained", "trained", "trained + mask loss")
BASELINES = ("uniform", "centre prior")
METRICS = {
    "human IoU (top-k by value)": "human_iou",
    "human IoU (top-k by |value|)": "human_iou_abs",
    "human IoU (bottom-k by value)": "human_iou_low",
    "human mass on person": "human_mass",
    "keypoint mass near joints": "keypoint_mass",
    "keypoint mass on its top token": "keypoint_top",
}

DEFAULTS = {
    **_vremd.BACKBONE_DEFAULTS,  # as in corrupted_key_frame: pretrained on single frames and frozen
    "variant": "hkm+bmd",
    "sigma": 2.0,
    "distractors": 3,
    "center_jitter": 0.2,
    "train_clips": 1600,
    "eval_clips": 100,
    "steps": 400,
    "batch_size": 8,
    "lr": 1e-3,
    "warmup": 30,
    "coverage": 0.2,
    "joint_radius": 3.0,
    "mask_loss_weight": 0.01,
    "threads": 1,
}
QUICK = {
    **DEFAULTS,
    **_vremd.QUICK_SIZES,
}


# --------------------------------------------------------------------------------------------- data


def make_clips(settings: dict, seed: int, num: int) -> dict[str, torch.Tensor]:
    """``num`` clips of 3 frames with distractors, plus ``person`` (N, 3, L) and ``near_joint``
    (N, 3, L) token labels."""
    dataset = SyntheticPoseVideos(
        num,
        clip_length=3,
        frame_size=tuple(settings["size"]),
        heatmap_size=_vremd.heatmap_size(settings),
        sigma=settings["sigma"],
        seed=seed,
        distractors=settings["distractors"],
        center_jitter=settings["center_jitter"],
    )
    clips = []
    for i in range(num):
        clip = dataset[i]
        out = {k: clip[k] for k in _vremd.KEEP}
        out["frames"] = _vremd.to_uint8(clip["frames"])
        out["coverage"] = token_coverage(dataset.silhouette(i), settings["patch"])
        out["near_joint"] = near_joint_tokens(clip["joints"], clip["target_weight"], settings, settings["patch"])
        clips.append(out)
    return {k: torch.stack([c[k] for c in clips]) for k in clips[0]}


def token_coverage(silhouette: torch.Tensor, patch: int) -> torch.Tensor:
    """(T, H, W) silhouette -> (T, L): the share of each token's pixels that show the person."""
    return F.avg_pool2d(silhouette[:, None], patch)[:, 0].flatten(1)


def near_joint_tokens(joints: torch.Tensor, inside: torch.Tensor, settings: dict, patch: int) -> torch.Tensor:
    """(T, L) bool: tokens whose patch [x0, x0 + P) x [y0, y0 + P) lies within ``joint_radius`` px of a
    joint of the frame (joints with a heatmap target, i.e. inside the frame)."""
    height, width = settings["size"]
    gy, gx = height // patch, width // patch
    ys, xs = torch.meshgrid(torch.arange(gy), torch.arange(gx), indexing="ij")
    lo_x, lo_y = (xs.flatten() * patch - 0.5).float(), (ys.flatten() * patch - 0.5).float()  # pixel edges
    hi_x, hi_y = lo_x + patch, lo_y + patch
    x, y = joints[..., 0][..., None], joints[..., 1][..., None]  # (T, J, 1)
    dx = (lo_x - x).clamp(min=0) + (x - hi_x).clamp(min=0)
    dy = (lo_y - y).clamp(min=0) + (y - hi_y).clamp(min=0)
    near = (dx.square() + dy.square()).sqrt() <= settings["joint_radius"]  # (T, J, L)
    return (near & (inside[..., None] > 0)).any(1)


def data_key(settings: dict, num: int) -> dict:
    keys = ("size", "patch", "sigma", "distractors", "center_jitter", "coverage", "joint_radius")
    return {k: settings[k] for k in keys} | {"num": num, "version": 1}


# ------------------------------------------------------------------------------------------ scores


@torch.no_grad()
def masks_of(model: nn.Module, data: dict, batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """HKM's (human_mask, keypoint_mask), each (N, T, L), on every clip of ``data``."""
    model.eval()
    captured: list = []
    handle = model.hkm.register_forward_hook(lambda m, a, out: captured.append((out.human_mask, out.keypoint_mask)))
    try:
        for start in range(0, data["frames"].shape[0], batch_size):
            model(_vremd.to_float(data["frames"][start : start + batch_size]))
    finally:
        handle.remove()
    return torch.cat([h for h, _ in captured]), torch.cat([k for _, k in captured])


def topk_iou(mask: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(M, L) scores and (M, L) bool truth -> (M,) IoU of the top-k scores with the truth, k = its size
    (NaN where the truth is empty)."""
    k = truth.sum(-1)
    order = mask.argsort(-1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(mask.shape[-1]).expand_as(order))
    picked = rank < k[:, None]
    inter = (picked & truth).sum(-1).float()
    union = (picked | truth).sum(-1).float()
    return torch.where(k > 0, inter / union.clamp(min=1), torch.full_like(inter, math.nan))


def mass_share(mask: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(M,) share of the non-negative mask's mass on the truth tokens (NaN where the truth is empty)."""
    share = (mask * truth).sum(-1) / mask.sum(-1).clamp(min=1e-12)
    return torch.where(truth.any(-1), share, torch.full_like(share, math.nan))


def nanmean(values: torch.Tensor) -> float:
    values = values[~values.isnan()]
    return float("nan") if values.numel() == 0 else 100.0 * float(values.double().mean())


def mask_scores(human: torch.Tensor, keypoint: torch.Tensor, data: dict, settings: dict) -> dict[str, float]:
    """The four scores (%) of masks (N, T, L) against the clips' token labels."""
    person = (data["coverage"] >= settings["coverage"]).flatten(0, 1)
    near = data["near_joint"].flatten(0, 1)
    human, keypoint = human.flatten(0, 1).float(), keypoint.flatten(0, 1).float()
    return {
        "human_iou": nanmean(topk_iou(human, person)),
        "human_iou_abs": nanmean(topk_iou(human.abs(), person)),
        "human_iou_low": nanmean(topk_iou(-human, person)),
        "human_mass": nanmean(mass_share(human.abs(), person)),
        "keypoint_mass": nanmean(mass_share(keypoint, near)),
        "keypoint_top": nanmean(top_share(keypoint)),
    }


def top_share(mask: torch.Tensor) -> torch.Tensor:
    """(M,) share of a non-negative mask's mass on its largest token: 1 / L when uniform, 1 when all of
    it sits on one token."""
    return mask.max(-1).values / mask.sum(-1).clamp(min=1e-12)


def baseline_scores(data: dict, settings: dict) -> dict[str, dict[str, float]]:
    """The uniform mask (expected IoU of a random k of L tokens) and a centre prior."""
    person = (data["coverage"] >= settings["coverage"]).flatten(0, 1)
    near = data["near_joint"].flatten(0, 1)
    length = person.shape[-1]
    k = person.sum(-1).double()
    random_iou = torch.where(k > 0, (k * k / length) / (2 * k - k * k / length).clamp(min=1e-12), math.nan)
    uniform = torch.ones_like(person, dtype=torch.float32)
    height, width = settings["size"]
    patch = settings["patch"]
    ys, xs = torch.meshgrid(torch.arange(height // patch), torch.arange(width // patch), indexing="ij")
    cy, cx = (ys.flatten().float() + 0.5) * patch - height / 2, (xs.flatten().float() + 0.5) * patch - width / 2
    centre = torch.exp(-(cx.square() + cy.square()) / (2 * (0.25 * max(height, width)) ** 2)).expand_as(uniform)
    # The centre prior ties many tokens: break the ties at random, with a fixed seed so the table repeats.
    ties = torch.Generator().manual_seed(0)

    def jitter() -> torch.Tensor:
        return 1e-6 * torch.rand(centre.shape, generator=ties, dtype=centre.dtype)

    return {
        "uniform": {
            "human_iou": nanmean(random_iou),
            "human_iou_abs": nanmean(random_iou),
            "human_iou_low": nanmean(random_iou),
            "human_mass": nanmean(mass_share(uniform, person)),
            "keypoint_mass": nanmean(mass_share(uniform, near)),
            "keypoint_top": nanmean(top_share(uniform)),
        },
        "centre prior": {
            "human_iou": nanmean(topk_iou(centre + jitter(), person)),
            "human_iou_abs": nanmean(topk_iou(centre + jitter(), person)),
            "human_iou_low": nanmean(topk_iou(-centre + jitter(), person)),
            "human_mass": nanmean(mass_share(centre, person)),
            "keypoint_mass": nanmean(mass_share(centre, near)),
            "keypoint_top": nanmean(top_share(centre)),
        },
    }


#: Test-time versions of the human mask: name -> transform of Mask_h.
HUMAN_MASK_SWITCHES = {"pck human mask sign only": torch.sign, "pck human mask magnitude only": torch.abs}


def key_pck(model: nn.Module, data: dict) -> dict[str, float]:
    """Key-frame PCK@0.2, as trained, with HKM's masks all ones, and with the human mask replaced by its
    sign or its magnitude."""
    out = {"pck": _vremd.pck(*_vremd.key_frame_hits(model, data, 3))}
    with _vremd.masks_off(model):
        out["pck masks all ones"] = _vremd.pck(*_vremd.key_frame_hits(model, data, 3))
    for name, transform in HUMAN_MASK_SWITCHES.items():
        with _vremd.human_mask_as(model, transform):
            out[name] = _vremd.pck(*_vremd.key_frame_hits(model, data, 3))
    out["keypoint tokens change under token scaling"] = _vremd.mask_scale_invariance(model, data)
    return out


# ----------------------------------------------------------------------------------------- training


def train_with_mask_loss(model: nn.Module, data: dict, settings: dict, seed: int, device: str) -> float:
    """:func:`common.train` (AdamW, warm-up and cosine, the same batches for a seed) with
    ``mask_loss_weight * BCE(sigmoid(Mask_h), person tokens)`` added to the heatmap loss. Returns seconds."""
    captured: list = []
    handle = model.hkm.register_forward_hook(lambda m, a, out: captured.append(out.human_mask))

    def mask_loss(batch: dict) -> torch.Tensor:
        person = (batch["coverage"] >= settings["coverage"]).float()
        mask = captured[-1]
        captured.clear()
        return settings["mask_loss_weight"] * F.binary_cross_entropy_with_logits(mask, person)

    try:
        log = train(model, data, _vremd.make_predict(3), settings["steps"], settings["batch_size"], settings["lr"],
                    seed, warmup=settings["warmup"], device=device, extra_loss=mask_loss)  # fmt: skip
    finally:
        handle.remove()
    return log.seconds


# ---------------------------------------------------------------------------------------------- run

#: Bump when a change to the code changes what a trained model's record would hold.
RECORD_VERSION = 1


def load_model(settings, name, seed, device, data, pretrained) -> nn.Module:
    """The model ``(name, seed)`` as :func:`train_model` kept it."""
    model = _vremd.build_vremd(settings["variant"], data["heatmaps"].shape[2], 3, settings, pretrained["vit"])
    path = _vremd.record_model_path(record_name(name), record_key(settings, name, seed, device))
    model.load_state_dict(torch.load(path, weights_only=True))
    return model


def record_name(name: str) -> str:
    return f"vremd-masks-{name.replace(' ', '')}"


def record_key(settings: dict, name: str, seed: int, device: str) -> dict:
    key = {k: v for k, v in settings.items() if k != "threads"}
    return key | {"model": name, "seed": seed, "device": device, "version": RECORD_VERSION}


def train_model(
    name: str, seed: int, settings: dict, train_data: dict, eval_data: dict, pretrained, device, path: Path
) -> dict:
    """Build (and, but for ``untrained``, train) one model from ``seed``, save it at ``path`` and score
    its masks."""
    torch.manual_seed(seed)
    model = _vremd.build_vremd(settings["variant"], train_data["heatmaps"].shape[2], 3, settings, pretrained["vit"])
    seconds = 0.0
    if name == "trained":
        seconds = train(
            model, train_data, _vremd.make_predict(3), settings["steps"], settings["batch_size"],
            settings["lr"], seed, warmup=settings["warmup"], device=device,
        ).seconds  # fmt: skip
    elif name == "trained + mask loss":
        seconds = train_with_mask_loss(model, train_data, settings, seed, device)
    model.cpu()
    torch.save(model.state_dict(), path)
    human, keypoint = masks_of(model, eval_data)
    record = mask_scores(human, keypoint, eval_data, settings)
    record.update(key_pck(model, eval_data))
    record["train_seconds"] = seconds
    record["human_mask_range"] = [float(human.min()), float(human.median()), float(human.max())]
    return record


def run(settings: dict, seeds: list[int], device: str, out: Path) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(settings["threads"])
    train_data = cached(
        "vremd-masks-train",
        lambda: make_clips(settings, 0, settings["train_clips"]),
        data_key(settings, settings["train_clips"]),
        _vremd.cache_dir(),
    )
    eval_data = cached(
        "vremd-masks-eval",
        lambda: make_clips(settings, 1, settings["eval_clips"]),
        data_key(settings, settings["eval_clips"]),
        _vremd.cache_dir(),
    )
    print(f"   data ready ({time.perf_counter() - started:.0f} s)", flush=True)
    pretrained = _vremd.pretrained_backbone(
        settings,
        "vremd-masks-backbone",
        lambda: make_clips(settings, 2, settings["pretrain_clips"]),
        data_key(settings, settings["pretrain_clips"]),
        device,
    )
    print(f"   backbone ready ({float(pretrained['seconds']):.0f} s to pretrain)", flush=True)
    models = [m for m in MODELS if m != "trained + mask loss" or settings["mask_loss_weight"] > 0]
    results: dict[str, dict[int, dict]] = {m: {} for m in models}
    for seed in seeds:
        for name in models:
            key = record_key(settings, name, seed, device)
            record = _vremd.cached_record(
                record_name(name),
                key,
                lambda path, name=name, seed=seed: train_model(
                    name, seed, settings, train_data, eval_data, pretrained, device, path
                ),
            )
            # The mask scores again from the kept model, so a score added later reaches old records.
            model = load_model(settings, name, seed, device, eval_data, pretrained)
            record.update(mask_scores(*masks_of(model, eval_data), eval_data, settings))
            results[name][seed] = record
            print(
                f"   seed {seed} {name:20s}: "
                + ", ".join(f"{k} {record[v]:.1f}" for k, v in METRICS.items())
                + f", PCK {record['pck']:.1f} ({record['train_seconds']:.0f} s)",
                flush=True,
            )
    baselines = baseline_scores(eval_data, settings)
    from posemods.metrics.pck import pck_hits

    mean = train_data["joints"][:, 1].double().mean(0).expand(eval_data["joints"].shape[0], -1, -1)
    hits = pck_hits(
        mean, eval_data["joints"][:, 1].double(), eval_data["target_weight"][:, 1], eval_data["person_size"][:, 1]
    )
    mean_pose_pck = _vremd.pck(*hits)
    person_share = 100.0 * float((eval_data["coverage"] >= settings["coverage"]).float().mean())
    near_share = 100.0 * float(eval_data["near_joint"].float().mean())
    payload = {
        "settings": settings,
        "seeds": seeds,
        "results": {m: {str(s): r for s, r in per.items()} for m, per in results.items()},
        "baselines": baselines,
        "token_shares": {"person": person_share, "near_joint": near_share},
        "pretrain_seconds": float(pretrained["seconds"]),
        "mean_pose_pck": mean_pose_pck,
        "run": run_info(started),
    }
    markdown = report(settings, seeds, results, baselines, person_share, near_share, mean_pose_pck)
    markdown += compute_note(results, float(pretrained["seconds"]))
    write(NAME, payload, markdown, out, committed=is_committed_run(settings, DEFAULTS, seeds, device))
    plot(results, baselines, out / f"{NAME}.png")
    examples(settings, models, min(seeds), device, eval_data, pretrained, out / f"{NAME}_examples.png")
    return payload


# ------------------------------------------------------------------------------------------- report


def compute_note(results: dict, pretrain_seconds: float) -> str:
    """What the run cost, whether or not its records came from the cache."""
    total = sum(r["train_seconds"] for per in results.values() for r in per.values())
    minutes = (total / 60, pretrain_seconds / 60)
    return (
        "\n\nCompute: {:.0f} min of training over every model and seed, plus {:.0f} min to pretrain the backbone "
        "once (one thread each). Trained records and models are kept in the evidence cache "
        "(`~/.cache/posemods/evidence/vremd/`) and reused by a later run with the same settings; the wall time "
        "below is the last run's."
    ).format(*minutes)


def report(settings, seeds, results, baselines, person_share, near_share, mean_pose_pck) -> str:
    height, width = settings["size"]
    grid = (height // settings["patch"], width // settings["patch"])
    lines = [
        "# What HKM's masks learn: do they find the person and its joints?",
        "",
        f"VREMD (`--variant {settings['variant']}`, preset `{settings['preset']}`) at {height} x {width} px, patch "
        f"{settings['patch']} ({grid[0]} x {grid[1]} tokens), {settings['distractors']} distractor people at most per "
        f"clip; {settings['steps']} AdamW steps of {settings['batch_size']} clips; scored on every frame of "
        f"{settings['eval_clips']} held-out clips; seeds {seeds}, mean ± sd. A token is *person* where at least "
        f"{settings['coverage']:.0%} of its pixels show the person ({person_share:.1f} % of tokens), *near a joint* "
        f"where its patch lies within {settings['joint_radius']} px of one ({near_share:.1f} % of tokens).",
        "",
        "| mask | " + " | ".join(METRICS) + " | key-frame PCK@0.2 | PCK, masks all ones |",
        "|---|" + "---:|" * (len(METRICS) + 2),
    ]
    for name, per in results.items():
        cells = []
        for key in (*METRICS.values(), "pck", "pck masks all ones"):
            m, s = mean_sd(r[key] for r in per.values())
            cells.append(f"{fmt(m)} ± {fmt(s)}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, scores in baselines.items():
        lines.append(f"| {name} | " + " | ".join(fmt(scores[v]) for v in METRICS.values()) + " | | |")
    lines.append("| *mean pose* (no model) |" + " |" * len(METRICS) + f" {fmt(mean_pose_pck)} | |")
    lines += ["", "Paired differences (per seed, then mean ± sd):", ""]
    lines += ["| pair | " + " | ".join(METRICS) + " | key-frame PCK@0.2 |", "|---|" + "---:|" * (len(METRICS) + 1)]
    pairs = [("untrained", "trained"), ("trained", "trained + mask loss")]
    for a, b in pairs:
        if a not in results or b not in results:
            continue
        cells = []
        for key in (*METRICS.values(), "pck"):
            cells.append(fmt_paired(paired(_get(results, a, key), _get(results, b, key))))
        lines.append(f"| {b} - {a} | " + " | ".join(cells) + " |")
    switches = ("pck masks all ones", *HUMAN_MASK_SWITCHES)
    lines += [
        "",
        "Test-time switches, PCK minus the model's own (mean ± sd over seeds): HKM's two masks all ones; the "
        "human mask replaced by its sign (±1) or by its magnitude:",
        "",
        "| model | " + " | ".join(s.removeprefix("pck ") for s in switches) + " | keypoint tokens' largest change |",
        "|---|" + "---:|" * (len(switches) + 1),
    ]
    for name in results:
        cells = [fmt_paired(paired(_get(results, name, "pck"), _get(results, name, key))) for key in switches]
        change = max(r["keypoint tokens change under token scaling"] for r in results[name].values())
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {change:.1e} |")
    lines += [
        "",
        "*Keypoint tokens' largest change*: the largest relative change of any keypoint token after HKM's first "
        "joint block when each image token of F_c is multiplied by its own random factor in [0.1, 10], as a "
        "positive human mask multiplies it (16 clips, every seed). The blocks are pre-norm: the keys and values "
        "the keypoint tokens read are LayerNorm(F_c), which no positive per-token factor changes.",
    ]
    for name in results:
        ranges = [r["human_mask_range"] for r in results[name].values()]
        lines.append(
            f"Human mask values of *{name}* (min / median / max, per seed): "
            + "; ".join(" / ".join(f"{v:.2g}" for v in rng) for rng in ranges)
            + "."
        )
    seconds = {n: mean_sd(r["train_seconds"] for r in per.values())[0] for n, per in results.items()}
    lines += ["", "Training time per seed (mean): " + ", ".join(f"{n} {s:.0f} s" for n, s in seconds.items() if s)]
    return "\n".join(lines)


def _get(results: dict, name: str, key: str) -> dict[int, float]:
    return {seed: record[key] for seed, record in results[name].items()}


def examples(settings, models, seed, device, data, pretrained, path: Path, clips: int = 3) -> None:
    """The key frames of the first ``clips`` evaluation clips, the person's tokens, and each model's
    human mask (signed) and keypoint mask on them, for ``seed``'s models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height, width = settings["size"]
    grid = (height // settings["patch"], width // settings["patch"])
    masks = {}
    for name in models:
        model = load_model(settings, name, seed, device, data, pretrained)
        human, keypoint = masks_of(model, {k: v[:clips] for k, v in data.items()})
        masks[name] = (human[:, 1].view(clips, *grid), keypoint[:, 1].view(clips, *grid))
    columns = 2 + 2 * len(models)
    fig, axes = plt.subplots(clips, columns, figsize=(1.7 * columns, 1.8 * clips), squeeze=False)
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    for c in range(clips):
        frame = _vremd.to_float(data["frames"][c, 1]).permute(1, 2, 0).numpy()
        person = (data["coverage"][c, 1] >= settings["coverage"]).view(*grid).float().numpy()
        axes[c, 0].imshow(frame)
        axes[c, 0].plot(*data["joints"][c, 1].T.numpy(), "w.", markersize=3)
        axes[c, 1].imshow(person, cmap="gray", extent=extent)
        for m, name in enumerate(models):
            human, keypoint = masks[name]
            bound = float(human[c].abs().max())
            axes[c, 2 + 2 * m].imshow(human[c].numpy(), cmap="coolwarm", vmin=-bound, vmax=bound, extent=extent)
            axes[c, 3 + 2 * m].imshow(keypoint[c].numpy(), cmap="viridis", extent=extent)
            axes[c, 3 + 2 * m].plot(*data["joints"][c, 1].T.numpy(), "w.", markersize=2)
    titles = ["key frame", "person tokens"] + [f"{n}\n{kind}" for n in models for kind in ("Mask_h", "Mask_k")]
    for ax, title in zip(axes[0], titles):
        ax.set_title(title, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(results: dict, baselines: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [*results, *baselines]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(names)
    for n, name in enumerate(names):
        for k, key in enumerate(METRICS.values()):
            x = k + (n - (len(names) - 1) / 2) * width
            if name in results:
                values = [r[key] for r in results[name].values()]
                m, s = mean_sd(values)
                ax.bar(x, m, width, yerr=0 if math.isnan(s) else s, color=f"C{n}", label=name if k == 0 else None)
                ax.plot([x] * len(values), values, "k.", markersize=3)
            else:
                ax.bar(x, baselines[name][key], width, color=f"C{n}", hatch="//", label=name if k == 0 else None)
    ax.set_xticks(range(len(METRICS)), list(METRICS), rotation=10, fontsize=8)
    ax.set_ylabel("%")
    ax.set_title("HKM's masks against the true silhouette and joints (token resolution)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

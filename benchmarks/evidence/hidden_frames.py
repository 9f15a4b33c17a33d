"""Hidden frames: can a temporal module find joints that a frame does not show at all?

Synthetic videos with smooth motion in which the person, or one of its limbs, is not drawn for 1, 2 or
3 consecutive frames (never frame 1; :class:`posemods.data.HiddenFrames`): its pixels show the
background, so nothing in that frame says where the hidden joints are. The same hiding is applied in
training, to half of the clips (identical for every variant, and the hidden joints keep their
targets), and in evaluation, where every video has one gap.

Variants (KIMNet's recursive model, through its one ``temporal=`` switch, everything else equal):
``none`` (Table 4's baseline: frames are independent), ``kmm`` (eq. 7-11, softmax), ``kmm-sum``
(eq. 10 as printed), ``kmm-residual`` (Table 5's KIMNet-Residual: prior + m_{t-1}), ``kmm-cosine``
(an option outside the paper, see :class:`posemods.KMM`), ``jrpsp`` (RPSTN's) and ``dkd`` (DKD's
distillator). Whole videos are run through ``stream()``: the initializer on frame 1 only.

Reported, PCK@0.2 of the person size: hidden joints in the k-th frame of their gap (k = 1, 2, 3),
visible joints of frames 2..T, and the visible joints of the first frame after the gap; each variant
minus ``none`` per seed, mean ± sd. Two rows need no training and bound the task: ``copy last seen``
(the true joints of the last frame before the gap: what carrying the pose forward can reach) and
``mean position`` (each joint's average position in the training clips: a guess without the frame).

Diagnostics for every trained model (issue 18, item 6): the drop when the temporal module's output is
zeroed at test time, the share of the gradient that reaches it, how strongly the correction weighs
the prior against the features, whether hidden joints are supervised, and for KMM its attention
(entropy, diagonal and kinematic-neighbour shares, collapse) before and after training.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import torch

from benchmarks.evidence import common
from posemods.data import HiddenFrames, SyntheticPoseVideos
from posemods.metrics import decode_to_image
from posemods.metrics.pck import pck_hits
from posemods.models.recursive import RecursivePoseModel
from posemods.skeletons import get_skeleton
from posemods.training.loop import heatmap_loss

NAME = "hidden_frames"

DEFAULTS = {
    "size": (64, 64), "clip_length": 5, "train_clips": 1000, "steps": 600, "batch_size": 8, "lr": 2e-3,
    "warmup": 30, "initializer": "resnet10t", "encoder": "resnet10t", "channels": 64,
    "gaps": (1, 2, 3), "hidden_parts": "either", "hide_probability": 0.5,
    "person_height": (0.35, 0.6), "center_jitter": 0.3, "distractors": 0,
    "eval_videos": 60, "eval_length": 8, "alpha": 0.2, "threads": 1,
    "variants": ("none", "kmm", "kmm-sum", "kmm-residual", "kmm-cosine", "jrpsp", "dkd"),
}  # fmt: skip
QUICK = {
    **DEFAULTS, "size": (32, 32), "clip_length": 3, "train_clips": 4, "steps": 2, "batch_size": 2,
    "warmup": 1, "channels": 16, "gaps": (1,), "eval_videos": 2, "eval_length": 3, "variants": ("none", "kmm"),
}  # fmt: skip

#: variant -> (``temporal=`` of KIMNet, ``temporal_kwargs``, where it comes from).
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "none": ("none", {}, "KIMNet Table 4 'Baseline'"),
    "kmm": ("kmm", {}, "KIMNet eq. 7-11 (softmax, as the text)"),
    "kmm-sum": ("kmm", {"normalization": "sum"}, "KIMNet eq. 10 as printed"),
    "kmm-residual": ("kmm", {"residual": True}, "KIMNet Table 5 'KIMNet-Residual'"),
    "kmm-cosine": ("kmm", {"similarity": "cosine"}, "option, not in the paper"),
    "jrpsp": ("jrpsp", {}, "KIMNet Table 4, RPSTN's JRPSP"),
    "dkd": ("dkd", {}, "KIMNet Table 4, DKD's distillator"),
}
TRAIN_SEED, EVAL_SEED = 1000, 2000
SCORES = ("hidden_k", "visible", "after_gap")


cache_dir = common.cache_dir


#: Bump when what a (variant, seed) computes changes (the library's models or data, training,
#: evaluation, diagnostics): cached results are keyed by it, the settings, the variant and the seed, so
#: a report can be rewritten at a later commit without training again. Each result records the commit
#: it was trained at, and the report lists them.
PROTOCOL = 1


def code_version() -> str:
    return f"protocol-{PROTOCOL}"


def commit() -> str:
    """The commit a result is computed at, with ``+`` when the library had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=common.ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "posemods"], cwd=common.ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        return head + ("+" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _dataset(settings: dict, num: int, length: int, seed: int, hidden: HiddenFrames) -> SyntheticPoseVideos:
    height, width = settings["size"]
    return SyntheticPoseVideos(
        num, clip_length=length, frame_size=(height, width), heatmap_size=(height // 4, width // 4), seed=seed,
        hidden=hidden, person_height=settings["person_height"], center_jitter=settings["center_jitter"],
        distractors=settings["distractors"],
    )  # fmt: skip


def training_clips(settings: dict) -> dict:
    hidden = HiddenFrames(settings["gaps"], settings["hidden_parts"], settings["hide_probability"])
    ds = _dataset(settings, settings["train_clips"], settings["clip_length"], TRAIN_SEED, hidden)
    key = {k: settings[k] for k in ("size", "clip_length", "train_clips", "gaps", "hidden_parts",
                                    "hide_probability", "person_height", "center_jitter", "distractors")}  # fmt: skip
    return common.cached(
        "train", lambda: common.stack_clips(ds, range(len(ds)), lambda i: {"hidden": ds.hidden_joints(i)}),
        {**key, "code": code_version()}, cache_dir(),
    )  # fmt: skip


def evaluation_videos(settings: dict, parts: str) -> dict:
    hidden = HiddenFrames(settings["gaps"], parts, 1.0)
    ds = _dataset(settings, settings["eval_videos"], settings["eval_length"], EVAL_SEED, hidden)
    key = {k: settings[k] for k in ("size", "eval_videos", "eval_length", "gaps", "person_height",
                                    "center_jitter", "distractors")}  # fmt: skip
    return common.cached(
        f"eval-{parts}", lambda: common.stack_clips(ds, range(len(ds)), lambda i: {"hidden": ds.hidden_joints(i)}),
        {**key, "parts": parts, "code": code_version()}, cache_dir(),
    )  # fmt: skip


def build(variant: str, settings: dict, num_joints: int) -> RecursivePoseModel:
    temporal, kwargs, _ = VARIANTS[variant]
    return RecursivePoseModel.create(
        "kimnet", num_joints, temporal=temporal, initializer_backbone=settings["initializer"],
        encoder_backbone=settings["encoder"], channels=settings["channels"], temporal_kwargs=kwargs or None,
    )  # fmt: skip


def _predict_all_frames(model, batch):
    return model(batch["frames"]), batch["heatmaps"], batch["target_weight"]


# --- evaluation ---------------------------------------------------------------------------------


@torch.no_grad()
def stream_videos(model, videos: dict, zero_prior: bool = False, attention: list | None = None) -> torch.Tensor:
    """Heatmaps (B, T, J, h, w) of whole videos run frame by frame through ``stream``.

    ``zero_prior`` replaces the temporal module's output by zeros (the module is then unused);
    ``attention`` collects KMM's (B, J, J) attention of every later frame.
    """
    model.eval()
    handles, temporal = [], model.temporal
    if zero_prior and temporal is not None:
        handles.append(temporal.register_forward_hook(lambda module, args, out: torch.zeros_like(out)))
    if attention is not None and temporal is not None and hasattr(temporal, "proj_cur"):
        plain = temporal.forward

        def with_attention(*args, **kwargs):
            prior, attn = plain(*args, return_attention=True)
            attention.append(attn)
            return prior

        temporal.forward = with_attention
    try:
        frames = videos["frames"]
        return torch.stack(list(model.stream(frames[:, t] for t in range(frames.shape[1]))), dim=1)
    finally:
        for handle in handles:
            handle.remove()
        if attention is not None and temporal is not None and "forward" in vars(temporal):
            del temporal.forward


def gap_position(hidden: torch.Tensor) -> torch.Tensor:
    """(B, T, J) -> (B, T, J) int: k for the k-th consecutive hidden frame of a joint, 0 where it is shown."""
    position = torch.zeros(hidden.shape, dtype=torch.long)
    for t in range(hidden.shape[1]):
        previous = position[:, t - 1] if t else torch.zeros_like(position[:, 0])
        position[:, t] = torch.where(hidden[:, t], previous + 1, 0)
    return position


def score(joints: torch.Tensor, videos: dict, alpha: float, max_gap: int) -> dict[str, float]:
    """PCK (%) of decoded ``joints`` (B, T, J, 2) on the masks of :data:`SCORES`."""
    hits, counted = pck_hits(
        joints, videos["joints_image"], torch.ones(joints.shape[:-1]), videos["person_size"], alpha
    )
    hits, counted = hits > 0, counted > 0
    hidden = videos["hidden"]
    position = gap_position(hidden)
    later = torch.zeros_like(hidden)
    later[:, 1:] = True
    visible = later & ~hidden & (videos["visibility"] > 0)
    after = torch.zeros_like(hidden)
    after[:, 1:] = hidden[:, :-1] & ~hidden[:, 1:]
    masks = {f"hidden_{k}": position == k for k in range(1, max_gap + 1)}
    masks |= {"hidden": hidden, "visible": visible, "after_gap": after & visible}
    for t in range(1, hidden.shape[1]):  # visible joints frame by frame (frame t + 1, counted from 1)
        in_frame = torch.zeros_like(hidden)
        in_frame[:, t] = True
        masks[f"visible_frame_{t + 1}"] = visible & in_frame

    def pct(mask):
        mask = mask & counted
        return 100.0 * float(hits[mask].double().mean()) if mask.any() else float("nan")

    return {name: pct(mask) for name, mask in masks.items()} | {
        f"n_{name}": int((mask & counted).sum()) for name, mask in masks.items()
    }


def carry_over_gaps(joints: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """(B, T, J, 2) ``joints`` with each hidden joint replaced by its value in the last frame that showed it."""
    carried = joints.clone()
    for t in range(1, joints.shape[1]):
        carried[:, t] = torch.where(hidden[:, t, :, None], carried[:, t - 1], joints[:, t])
    return carried


def reference_rows(videos: dict, train: dict, alpha: float, max_gap: int) -> dict[str, dict]:
    """Rows that need no model: carrying the last seen true pose forward, and each joint's mean position."""
    carried = carry_over_gaps(videos["joints_image"], videos["hidden"])
    mean = train["joints_image"].flatten(0, 1).mean(0)  # (J, 2)
    return {
        "copy last seen": score(carried, videos, alpha, max_gap),
        "mean position": score(mean.expand_as(carried), videos, alpha, max_gap),
    }


#: A second, stricter threshold: at 0.2 of the person size, a prediction anywhere near the torso of
#: where the person was is a hit for several joints, so carrying the person's place and carrying each
#: joint score alike; at 0.1 they part.
STRICT_ALPHA = 0.1


def evaluate(model, videos: dict, settings: dict, **kwargs) -> tuple[dict[str, float], dict[str, float]]:
    """The scores at ``settings["alpha"]`` and at :data:`STRICT_ALPHA`, from one run over the videos.

    Beside each score ``hidden_k``, ``own_hidden_k``: the model's own prediction of the last frame before
    the gap carried through it. A temporal module can carry at best what the model knew there, so this,
    not the true pose carried forward, is the ceiling of what it can keep.
    """
    heatmaps = stream_videos(model, videos, **kwargs)
    joints, _ = decode_to_image(heatmaps.float(), videos["affine"], tuple(settings["size"]))
    carried = carry_over_gaps(joints, videos["hidden"])
    max_gap = max(settings["gaps"])
    out = []
    for alpha in (settings["alpha"], STRICT_ALPHA):
        scores = score(joints, videos, alpha, max_gap)
        own = score(carried, videos, alpha, max_gap)
        out.append(scores | {f"own_hidden_{k}": own[f"hidden_{k}"] for k in range(1, max_gap + 1)})
    return out[0], out[1]


def _score_all(model, result: dict, evals: dict, settings: dict) -> None:
    """``scores`` / ``scores_strict`` of ``model`` on every evaluation set, and the same with the temporal
    module's output zeroed (``zero_prior`` / ``zero_prior_strict``)."""
    runs = {"scores": {}, "zero_prior": {}} if model.temporal is not None else {"scores": {}}
    for key in runs:
        for parts, videos in evals.items():
            runs[key][parts] = evaluate(model, videos, settings, zero_prior=key == "zero_prior")
        result[key] = {parts: both[0] for parts, both in runs[key].items()}
        result[f"{key}_strict"] = {parts: both[1] for parts, both in runs[key].items()}


# --- diagnostics ----------------------------------------------------------------------------------


def attention_stats(attn: torch.Tensor, edges: tuple[tuple[int, int], ...]) -> dict[str, float]:
    """Row statistics of (N, J, J) attention matrices.

    entropy: of each row over log J (1: uniform, 0: one joint); diagonal: the weight on the same joint;
    neighbours: on the joint's kinematic neighbours (the layout's edges), beside ``uniform_neighbours``,
    what a uniform row gives them; column: the largest mean weight one column of a matrix receives
    from all its rows (1 / J for a uniform or a one-to-one matrix, 1 when every joint attends to the
    same joint: the collapse).
    """
    joints = attn.shape[-1]
    attn = attn.double()
    entropy = -(attn * attn.clamp_min(1e-12).log()).sum(-1) / math.log(joints)
    neighbours = torch.zeros(joints, joints, dtype=torch.float64)
    for a, b in edges:
        neighbours[a, b] = neighbours[b, a] = 1.0
    return {
        "entropy": float(entropy.mean()),
        "diagonal": float(attn.diagonal(dim1=-2, dim2=-1).mean()),
        "uniform_diagonal": 1.0 / joints,
        "neighbours": float((attn * neighbours).sum(-1).mean()),
        "uniform_neighbours": float(neighbours.sum(-1).mean() / joints),
        "column": float(attn.mean(-2).amax(-1).mean()),
    }


def kmm_attention(model, videos: dict, edges) -> dict[str, dict]:
    """KMM's attention on transitions into shown frames and into hidden frames of ``videos``."""
    collected: list[torch.Tensor] = []
    stream_videos(model, videos, attention=collected)
    attn = torch.stack(collected, dim=1)  # (B, T - 1, J, J)
    into_hidden = videos["hidden"][:, 1:].any(-1)
    return {
        "shown": attention_stats(attn[~into_hidden], edges),
        "hidden": attention_stats(attn[into_hidden], edges),
        "mean_shown": attn[~into_hidden].mean(0).tolist(),
    }


def gradient_shares(model, train: dict, settings: dict) -> dict[str, float]:
    """On one training batch: the gradient norm reaching the temporal module over the model's, and the
    RMS weight the correction's first conv gives a prior channel over a feature channel."""
    # A train-mode forward moves BatchNorm's running statistics: keep them, so that the model saved after
    # this is the model that was scored. (Models cached before this fix were saved with one such update.)
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    model.train()
    batch = {k: v[: settings["batch_size"]] for k, v in train.items()}
    model.zero_grad(set_to_none=True)
    pred, target, weight = _predict_all_frames(model, batch)
    heatmap_loss(pred, target, weight).backward()

    def norm(params) -> float:
        return math.sqrt(sum(float(p.grad.double().square().sum()) for p in params if p.grad is not None))

    out = {"grad_temporal_share": float("nan"), "prior_weight_ratio": float("nan")}
    total = norm(model.parameters())
    if model.temporal is not None:
        out["grad_temporal_share"] = norm(model.temporal.parameters()) / max(total, 1e-30)
    correction = model.correction
    if correction is not None and correction.prior_channels and correction.feature_channels:
        w = correction.conv_g.weight.detach().double()
        prior_rms = w[:, : correction.prior_channels].square().mean().sqrt()
        feature_rms = w[:, correction.prior_channels :].square().mean().sqrt()
        out["prior_weight_ratio"] = float(prior_rms / feature_rms)
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    model.eval()
    return out


# --- one (variant, seed) --------------------------------------------------------------------------


def pair_path(variant: str, seed: int, settings: dict, device: str) -> Path:
    """Where the result of (``variant``, ``seed``) under ``settings`` is cached (its weights beside it, ``.pt``)."""
    # Which other variants share the run does not change this pair's result: keep them out of the key.
    own = {k: v for k, v in settings.items() if k != "variants"}
    key = {"variant": variant, "seed": seed, "settings": own, "code": code_version(), "device": device}
    return cache_dir() / "pairs" / f"{NAME}-{variant}-{seed}-{common.digest(key)}.json"


def run_pair(variant: str, seed: int, settings: dict, train: dict, evals: dict, device: str) -> dict:
    """Train ``variant`` with ``seed`` and evaluate it; cached by settings, variant, seed and code."""
    path = pair_path(variant, seed, settings, device)
    skeleton = get_skeleton("penn_action")
    if path.exists():
        result = json.loads(path.read_text())
        weights = path.with_suffix(".pt")
        scored = result.get("scores_strict", {}).get("person", {})
        if "visible_frame_2" not in scored and weights.exists():
            # A result cached before the strict threshold, the carried own prediction or the visible
            # joints by frame were reported: score the saved model again.
            model = build(variant, settings, skeleton.num_joints)
            model.load_state_dict(torch.load(weights, weights_only=True))
            _score_all(model, result, evals, settings)
            path.write_text(json.dumps(result))
        return result
    torch.manual_seed(seed)
    model = build(variant, settings, skeleton.num_joints)  # on the CPU, as the evaluation videos; train moves it
    result: dict = {"variant": variant, "seed": seed, "commit": commit()}
    cpu_evals = evals
    if model.temporal is not None and hasattr(model.temporal, "proj_cur"):
        result["attention_before"] = {
            parts: kmm_attention(model, v, skeleton.edge_index) for parts, v in cpu_evals.items()
        }
    log = common.train(model, train, _predict_all_frames, settings["steps"], settings["batch_size"], settings["lr"],
                       seed, warmup=settings["warmup"], device=device)  # fmt: skip
    model.cpu()
    result["train_seconds"], result["losses"] = round(log.seconds, 1), log.losses
    _score_all(model, result, cpu_evals, settings)
    if hasattr(model.temporal, "proj_cur"):
        result["attention_after"] = {
            parts: kmm_attention(model, v, skeleton.edge_index) for parts, v in cpu_evals.items()
        }
        if model.temporal.log_temperature is not None:
            result["temperature"] = float(model.temporal.log_temperature.exp())
    result |= gradient_shares(model, train, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    torch.save(model.state_dict(), path.with_suffix(".pt"))
    return result


def run(settings: dict, seeds: list[int], device: str, out: Path) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(settings["threads"])
    common.check_variants(settings, VARIANTS)
    train = training_clips(settings)
    evals = {parts: evaluation_videos(settings, parts) for parts in ("person", "limb")}
    max_gap = max(settings["gaps"])
    hidden_train = train["hidden"]
    supervised = float((train["target_weight"][hidden_train] > 0).double().mean()) if hidden_train.any() else 1.0
    results = [run_pair(v, s, settings, train, evals, device) for v in settings["variants"] for s in seeds]
    payload = {
        "run": common.run_info(started),
        "settings": settings,
        "seeds": seeds,
        "variants": {v: VARIANTS[v][2] for v in settings["variants"]},
        "hidden_joints_supervised": supervised,
        "reference": {p: reference_rows(v, train, settings["alpha"], max_gap) for p, v in evals.items()},
        "reference_strict": {p: reference_rows(v, train, STRICT_ALPHA, max_gap) for p, v in evals.items()},
        "results": results,
    }
    committed = common.is_committed_run(settings, DEFAULTS, seeds, device)
    common.write(NAME, payload, markdown(payload), out, committed=committed)
    plot(payload, out)
    return payload


# --- report ---------------------------------------------------------------------------------------


def _by_variant(payload: dict, getter) -> dict[str, dict[int, float]]:
    """variant -> seed -> ``getter(result)``; results without that entry (None, KeyError) are left out."""
    table: dict[str, dict[int, float]] = {}
    for r in payload["results"]:
        try:
            value = getter(r)
        except KeyError:
            continue
        if value is not None:
            table.setdefault(r["variant"], {})[r["seed"]] = value
    return table


def _score(parts: str, column: str, key: str = "scores"):
    return lambda r: r.get(key, {}).get(parts, {}).get(column)


def _mean(values: dict[int, float]) -> float:
    return common.mean_sd(values.values())[0] if values else float("nan")


def _score_table(payload: dict, parts: str, columns: list[str], heads: list[str], strict: bool = False) -> list[str]:
    key, reference = ("scores_strict", "reference_strict") if strict else ("scores", "reference")
    lines = ["| variant | " + " | ".join(heads) + " | Δ hidden, frame 1 | Δ visible |"]
    lines.append("|---|" + "---:|" * (len(heads) + 2))
    for name, row in payload[reference][parts].items():
        # Only the hidden frames mean anything for these rows (the visible ones are the truth itself).
        cells = [common.fmt(row[c]) if c.startswith("hidden") else "" for c in columns]
        lines.append(f"| *{name}* | " + " | ".join(cells) + " | | |")
    table = {c: _by_variant(payload, _score(parts, c, key)) for c in columns}
    for variant in payload["settings"]["variants"]:
        cells = [common.fmt(_mean(table[c].get(variant, {}))) for c in columns]
        deltas = ["", ""]
        if variant != "none" and "none" in table["hidden_1"]:
            deltas = [
                common.fmt_paired(common.paired(table[c]["none"], table[c].get(variant, {})))
                for c in ("hidden_1", "visible")
            ]
        lines.append(f"| `{variant}` | " + " | ".join(cells) + f" | {deltas[0]} | {deltas[1]} |")
    return lines


def _kept_table(payload: dict) -> list[str]:
    """Hidden frame 1 against the model's own last prediction before the gap carried forward."""
    lines = [
        "| variant | set | own last prediction carried, @0.2 | hidden frame 1, @0.2 | kept, @0.2 | "
        f"own last prediction carried, @{STRICT_ALPHA} | hidden frame 1, @{STRICT_ALPHA} | kept, @{STRICT_ALPHA} |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant in payload["settings"]["variants"]:
        for parts in ("person", "limb"):
            cells = []
            for key in ("scores", "scores_strict"):
                own = _by_variant(payload, _score(parts, "own_hidden_1", key)).get(variant, {})
                got = _by_variant(payload, _score(parts, "hidden_1", key)).get(variant, {})
                kept = {s: 100.0 * got[s] / own[s] for s in own if s in got and own[s] > 0}
                mean, sd = common.mean_sd(kept.values()) if kept else (float("nan"), float("nan"))
                cells += [common.fmt(_mean(own)), common.fmt(_mean(got)), f"{common.fmt(mean)} ± {common.fmt(sd)} %"]
            lines.append(f"| `{variant}` | {parts} | " + " | ".join(cells) + " |")
    return lines


def _by_frame_table(payload: dict) -> list[str]:
    """Visible joints of the whole-person set, frame by frame, and each variant's difference from ``none``."""
    length = payload["settings"]["eval_length"]
    frames = list(range(2, length + 1))
    lines = ["| variant | " + " | ".join(f"frame {t}" for t in frames) + " |", "|---|" + "---:|" * len(frames)]
    for variant in payload["settings"]["variants"]:
        cells = []
        for t in frames:
            column = _by_variant(payload, _score("person", f"visible_frame_{t}"))
            mine = column.get(variant, {})
            if variant == "none" or "none" not in column:
                cells.append(common.fmt(_mean(mine)))
            else:
                cells.append(f"{common.fmt(_mean(mine))} ({common.fmt_paired(common.paired(column['none'], mine))})")
        lines.append(f"| `{variant}` | " + " | ".join(cells) + " |")
    return lines


def _diagnostics_table(payload: dict) -> list[str]:
    lines = [
        "| variant | drop, hidden frame 1 (person / limb) | drop, visible (person / limb) | gradient share | "
        "prior / feature weight |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant in payload["settings"]["variants"]:
        if variant == "none":
            continue
        drops = []
        for column in ("hidden_1", "visible"):
            cells = []
            for parts in ("person", "limb"):
                kept = _by_variant(payload, _score(parts, column)).get(variant, {})
                zeroed = _by_variant(payload, _score(parts, column, "zero_prior")).get(variant, {})
                cells.append(common.fmt_paired(common.paired(zeroed, kept)))
            drops.append(" / ".join(cells))
        share = _mean(_by_variant(payload, lambda r: r["grad_temporal_share"]).get(variant, {}))
        ratio = _mean(_by_variant(payload, lambda r: r["prior_weight_ratio"]).get(variant, {}))
        lines.append(f"| `{variant}` | {drops[0]} | {drops[1]} | {common.fmt(share, 3)} | {common.fmt(ratio, 2)} |")
    return lines


def _attention_table(payload: dict, variants: list[str]) -> list[str]:
    lines = ["| variant | when | entropy | same joint | neighbours | top column |", "|---|---|---:|---:|---:|---:|"]
    for variant in variants:
        for when in ("attention_before", "attention_after"):

            def cell(key: str, when: str = when, variant: str = variant) -> str:
                into = [
                    _mean(_by_variant(payload, lambda r, i=i: r[when]["person"][i][key]).get(variant, {}))
                    for i in ("shown", "hidden")
                ]
                return f"{common.fmt(into[0], 2)} / {common.fmt(into[1], 2)}"

            uniform = _mean(
                _by_variant(payload, lambda r, w=when: r[w]["person"]["shown"]["uniform_neighbours"]).get(variant, {})
            )
            when_text = when.removeprefix("attention_")
            lines.append(
                f"| `{variant}` | {when_text} training | {cell('entropy')} | {cell('diagonal')} | "
                f"{cell('neighbours')} ({common.fmt(uniform, 2)}) | {cell('column')} |"
            )
    return lines


def markdown(payload: dict) -> str:
    settings, seeds = payload["settings"], payload["seeds"]
    max_gap = max(settings["gaps"])
    columns = [f"hidden_{k}" for k in range(1, max_gap + 1)] + ["visible", "after_gap"]
    heads = [f"hidden, frame {k} of gap" for k in range(1, max_gap + 1)] + ["visible (frames 2..T)", "first after gap"]
    lines = [
        "# Hidden frames: do the temporal modules carry joints through frames that do not show them?",
        "",
        f"PCK@{settings['alpha']} of the person size (%), {settings['eval_videos']} held-out videos of "
        f"{settings['eval_length']} frames per set, each with one gap of {settings['gaps']} frames, run whole "
        f"through `stream()`. Mean over seeds {seeds}; `Δ` is the variant minus `none`, per seed, then "
        "mean ± sd. Hidden joints are supervised in training "
        f"({100 * payload['hidden_joints_supervised']:.0f} % of them carry a target). Rows in italics need no "
        "model: the true pose of the last frame before the gap carried forward, and each joint's mean position.",
    ]
    for parts, title in (
        ("person", "The whole person hidden"),
        ("limb", "One limb hidden (elbow + wrist, or knee + ankle)"),
    ):
        lines += ["", f"## {title}", "", *_score_table(payload, parts, columns, heads)]
        lines += [
            "",
            f"At PCK@{STRICT_ALPHA} (half the threshold: the person's place no longer passes for each joint's):",
            "",
            *_score_table(payload, parts, columns, heads, strict=True),
        ]
    lines += [
        "",
        "## What each model keeps of what it knew",
        "",
        "The true pose carried forward is no model's ceiling: a module that carries the previous heatmaps can keep "
        "at most what the model itself predicted in the last frame before the gap. Its own prediction carried "
        "through the gap, its score on the first hidden frame, and the ratio (per seed, then mean ± sd).",
        "",
        *_kept_table(payload),
    ]
    lines += [
        "",
        "## Diagnostics",
        "",
        "What zeroing the temporal module's output at test time costs, in points (first hidden frame, and visible "
        "joints; whole-person set / limb set); the share of the gradient norm that reaches the temporal module on a "
        "training batch after training; and the RMS weight the correction's Conv_g gives a prior channel over a "
        "feature channel.",
        "",
        *_diagnostics_table(payload),
        "",
        f"Visible joints frame by frame (whole-person set, PCK@{settings['alpha']}; in brackets the paired "
        f"difference from `none`). Training clips have {settings['clip_length']} frames; the evaluation videos "
        f"{settings['eval_length']}"
        + (
            ", so later frames run the recursion longer than training did."
            if settings["eval_length"] > settings["clip_length"]
            else "."
        ),
        "",
        *_by_frame_table(payload),
    ]
    kmm = [
        v for v in settings["variants"] if any("attention_after" in r and r["variant"] == v for r in payload["results"])
    ]
    if kmm:
        lines += [
            "",
            "## KMM's attention (whole-person set)",
            "",
            "Row entropy over log J (1 = uniform), weight on the same joint (uniform: 1/J), on its kinematic "
            "neighbours (a uniform row's share in brackets), and the top column: the largest mean weight one joint "
            "of the previous frame receives from all joints (1/J for a uniform or one-to-one attention, 1 when every "
            "joint attends to the same joint: the collapse); into shown frames / into hidden frames. 'Before "
            "training' is the untrained model in eval mode.",
            "",
            *_attention_table(payload, kmm),
        ]
    seconds = [r["train_seconds"] for r in payload["results"]]
    commits = sorted({r.get("commit", "unknown") for r in payload["results"]})
    lines += [
        "",
        f"Trained and evaluated at commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}. "
        f"Training: {settings['steps']} steps of {settings['batch_size']} clips ({settings['train_clips']} clips of "
        f"{settings['clip_length']} frames at {settings['size'][0]} x {settings['size'][1]}, {settings['initializer']}/"
        f"{settings['encoder']} backbones, C = {settings['channels']}); {common.fmt(sum(seconds) / 60)} min of "
        f"training in all, {common.fmt(max(seconds) / 60)} min for the longest (variant, seed).",
    ]
    return "\n".join(lines)


def plot(payload: dict, out: Path) -> None:
    """``hidden_frames.png``: PCK by frame of the gap per variant, whole person and limb, mean ± sd over seeds."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return
    settings = payload["settings"]
    ks = list(range(1, max(settings["gaps"]) + 1))
    fig = Figure(figsize=(10, 4))
    for ax, parts in zip(fig.subplots(1, 2), ("person", "limb")):
        for name, row in payload["reference"][parts].items():
            ax.plot(ks, [row[f"hidden_{k}"] for k in ks], ls=":", color="grey")
            ax.annotate(name, (ks[-1], row[f"hidden_{ks[-1]}"]), fontsize=7, color="grey")
        for variant in settings["variants"]:
            means, sds = [], []
            for k in ks:
                vals = _by_variant(payload, _score(parts, f"hidden_{k}")).get(variant, {})
                m, s = common.mean_sd(vals.values())
                means.append(m)
                sds.append(0.0 if math.isnan(s) else s)
            ax.errorbar(ks, means, yerr=sds, marker="o", capsize=3, label=variant)
        ax.set_xticks(ks)
        ax.set_xlabel("frame of the gap")
        ax.set_ylabel(f"PCK@{settings['alpha']} on hidden joints (%)")
        ax.set_title("whole person hidden" if parts == "person" else "one limb hidden")
    fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{NAME}.png", dpi=110)

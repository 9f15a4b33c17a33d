"""What KMM's J x J attention learns: KMM alone on ideal joint maps, and the trained KIMNets' attention.

**KMM alone.** The task only KMM's mechanism can solve, with nothing else to learn: its features are
the true heatmaps of the two frames (J channels) plus a few channels of noise, and it must predict
frame t's heatmaps from frame t-1's (eq. 11's ``m_{t+1}^p``). The people move little between frames,
so the attention that solves it is close to one-to-one (each joint draws on itself): the prior is then
the last heatmaps, whose error is the ``copy forward`` row. Variants: eq. 9-10 as the text says
(``dot``, softmax), eq. 10 as printed (``sum``), KIMNet-Residual (``+ m_t``), and the ``cosine``
option (:class:`posemods.KMM`). A second case hides frame t: its joint channels are zero, so the
query sees noise only; the attention then cannot know which joint is which (every row sees the same
query information), and carrying the pose forward is left to the residual.

Reported per variant, mean ± sd over seeds: the prior's error over copy-forward's (1 = as good as
carrying the last heatmaps), PCK@0.2 of the prior's argmax against the true joints, and the
attention's weight on the same joint, its row entropy and its top column (the collapse measure of
:func:`benchmarks.evidence.hidden_frames.attention_stats`).

**Trained KIMNets.** The mean attention of the KMM variants of ``hidden_frames`` (seed 0, shown frames)
before and after training, as J x J pictures: read from that experiment's cached results.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from benchmarks.evidence import common, hidden_frames
from posemods import KMM
from posemods.data import SyntheticPoseVideos
from posemods.metrics import decode_to_image
from posemods.metrics.pck import pck_hits
from posemods.skeletons import get_skeleton

NAME = "kmm_attention"

DEFAULTS = {
    "clips": 600, "test_clips": 100, "clip_length": 4, "size": (64, 64), "noise_channels": 8, "noise": 0.1,
    "steps": 1500, "batch_size": 32, "lr": 3e-3, "threads": 1,
    "variants": ("dot", "sum", "dot+residual", "cosine", "cosine+residual"),
    # Which run of hidden_frames the trained KIMNets' pictures come from: its DEFAULTS or its QUICK.
    "hidden_frames": "DEFAULTS",
}  # fmt: skip
QUICK = {
    **DEFAULTS, "clips": 12, "test_clips": 4, "steps": 3, "batch_size": 4, "variants": ("dot", "cosine"),
    "hidden_frames": "QUICK",
}  # fmt: skip

#: variant -> KMM arguments.
VARIANTS = {
    "dot": ({}, "eq. 9-10, softmax (the text)"),
    "sum": ({"normalization": "sum"}, "eq. 10 as printed"),
    "dot+residual": ({"residual": True}, "KIMNet-Residual (Table 5)"),
    "cosine": ({"similarity": "cosine"}, "option, not in the paper"),
    "cosine+residual": ({"similarity": "cosine", "residual": True}, "option + Table 5's residual"),
}
CASES = ("shown", "hidden")


def _data(settings: dict) -> dict:
    height, width = settings["size"]
    ds = SyntheticPoseVideos(
        settings["clips"] + settings["test_clips"], clip_length=settings["clip_length"], frame_size=(height, width),
        heatmap_size=(height // 4, width // 4), seed=3000, person_height=(0.35, 0.6), center_jitter=0.3,
    )  # fmt: skip
    keys = ("heatmaps", "joints_image", "person_size", "affine")
    return common.cached(
        "kmm-alone",
        lambda: {k: v for k, v in common.stack_clips(ds, range(len(ds))).items() if k in keys},
        {k: settings[k] for k in ("clips", "test_clips", "clip_length", "size")},
        hidden_frames.cache_dir(),
    )


def _features(heatmaps: torch.Tensor, settings: dict, generator: torch.Generator, hide: bool) -> torch.Tensor:
    """Ideal joint features: the true heatmaps (zeroed when ``hide``) and ``noise_channels`` of noise."""
    noise = settings["noise"] * torch.randn(
        heatmaps.shape[0], settings["noise_channels"], *heatmaps.shape[-2:], generator=generator
    )
    return torch.cat([torch.zeros_like(heatmaps) if hide else heatmaps, noise], dim=1)


def run_one(variant: str, case: str, seed: int, settings: dict, data: dict) -> dict:
    hide = case == "hidden"
    heatmaps = data["heatmaps"]
    train, test = slice(0, settings["clips"]), slice(settings["clips"], None)
    joints = heatmaps.shape[2]
    torch.manual_seed(seed)
    kmm = KMM(joints + settings["noise_channels"], joints, **VARIANTS[variant][0])
    optimizer = torch.optim.Adam(kmm.parameters(), lr=settings["lr"])
    generator = torch.Generator().manual_seed(seed)
    frames = settings["clip_length"]
    for _ in range(settings["steps"]):
        i = torch.randint(0, settings["clips"], (settings["batch_size"],), generator=generator)
        t = int(torch.randint(1, frames, (1,), generator=generator))
        before, now = heatmaps[train][i, t - 1], heatmaps[train][i, t]
        prior = kmm(_features(before, settings, generator, False), _features(now, settings, generator, hide), before)
        loss = (prior - now).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        before, now = heatmaps[test][:, :-1].flatten(0, 1), heatmaps[test][:, 1:].flatten(0, 1)
        prior, attn = kmm(
            _features(before, settings, generator, False), _features(now, settings, generator, hide), before,
            return_attention=True,
        )  # fmt: skip
        error = float((prior - now).square().mean() / (before - now).square().mean())
        affine = data["affine"][test].repeat_interleave(frames - 1, 0)
        decoded, _ = decode_to_image(prior[:, None], affine, tuple(settings["size"]))
        target = data["joints_image"][test][:, 1:].flatten(0, 1)[:, None]
        size = data["person_size"][test][:, 1:].flatten(0, 1)[:, None]
        hits, counted = pck_hits(decoded, target, torch.ones(target.shape[:-1]), size, 0.2)
    skeleton = get_skeleton("penn_action")
    stats = hidden_frames.attention_stats(attn, skeleton.edge_index)
    return {"variant": variant, "case": case, "seed": seed, "error_over_copy": error,
            "pck": 100.0 * float(hits.sum() / counted.sum()), **stats}  # fmt: skip


def cached_run_one(variant: str, case: str, seed: int, settings: dict, data: dict) -> dict:
    """``run_one``, its row kept under the evidence cache by variant, case, seed, settings and protocol,
    so that drawing the trained KIMNets again (once ``hidden_frames`` has more) needs no retraining."""
    own = {k: v for k, v in settings.items() if k not in ("variants", "hidden_frames")}
    key = {"variant": variant, "case": case, "seed": seed, "settings": own, "code": hidden_frames.code_version()}
    path = hidden_frames.cache_dir() / "pairs" / f"{NAME}-{variant}-{case}-{seed}-{common.digest(key)}.json"
    if path.exists():
        return json.loads(path.read_text())
    row = run_one(variant, case, seed, settings, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row))
    return row


def run(settings: dict, seeds: list[int], device: str, out: Path) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(settings["threads"])
    common.check_variants(settings, VARIANTS)
    if settings["hidden_frames"] not in ("DEFAULTS", "QUICK"):
        raise ValueError(f"hidden_frames: expected 'DEFAULTS' or 'QUICK', got {settings['hidden_frames']!r}")
    data = _data(settings)
    results = [cached_run_one(v, c, s, settings, data) for c in CASES for v in settings["variants"] for s in seeds]
    payload = {
        "run": common.run_info(started),
        "settings": settings,
        "seeds": seeds,
        "variants": {v: VARIANTS[v][1] for v in settings["variants"]},
        "results": results,
        "trained": _trained_attention(getattr(hidden_frames, settings["hidden_frames"])),
    }
    committed = common.is_committed_run(settings, DEFAULTS, seeds, device)
    common.write(NAME, payload, markdown(payload), out, committed=committed)
    plot(payload, out)
    return payload


def _trained_attention(hidden_settings: dict) -> dict:
    """Seed 0's mean attention into shown frames of every KMM variant that ``hidden_frames`` has cached
    under ``hidden_settings`` (another run's models, e.g. one with ``--set``, are not these)."""
    found = {}
    for variant in hidden_frames.VARIANTS:
        path = hidden_frames.pair_path(variant, 0, hidden_settings, "cpu")
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        if "attention_after" in result:
            found[result["variant"]] = {
                "before": result["attention_before"]["person"]["mean_shown"],
                "after": result["attention_after"]["person"]["mean_shown"],
                "file": path.name,
            }
    return found


def markdown(payload: dict) -> str:
    settings, seeds = payload["settings"], payload["seeds"]
    lines = [
        "# What KMM's attention learns",
        "",
        "## KMM alone, on ideal joint maps",
        "",
        f"Features: the true heatmaps ({settings['size'][0] // 4} x {settings['size'][1] // 4}) plus "
        f"{settings['noise_channels']} channels of noise (sd {settings['noise']}); KMM predicts frame t's heatmaps "
        f"from frame t-1's. {settings['steps']} Adam steps of {settings['batch_size']}, {settings['clips']} "
        f"training clips, {settings['test_clips']} test clips; mean ± sd over seeds {seeds}. 'error / copy': the "
        "prior's squared error over that of the last heatmaps carried forward (1 = as good as copying). "
        "'Hidden': frame t's joint channels are zero, so the query sees noise only.",
        "",
        "| variant | frame t | error / copy | PCK@0.2 of the prior | same joint (1/J = 0.08) | entropy | top column |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in CASES:
        for variant in settings["variants"]:
            rows = [r for r in payload["results"] if r["variant"] == variant and r["case"] == case]

            def cell(key: str, digits: int, rows: list = rows) -> str:
                m, s = common.mean_sd(r[key] for r in rows)
                return f"{common.fmt(m, digits)} ± {common.fmt(s, digits)}"

            lines.append(
                f"| `{variant}` | {case} | {cell('error_over_copy', 2)} | {cell('pck', 1)} | {cell('diagonal', 2)} | "
                f"{cell('entropy', 2)} | {cell('column', 2)} |"
            )
    trained = payload["trained"]
    lines += ["", "## The trained KIMNets' attention", ""]
    if trained:
        lines.append(
            "`kmm_attention.png`: the mean attention into shown frames of each KMM variant of `hidden_frames` "
            f"(seed 0), before and after training ({', '.join(f'`{v}`' for v in trained)}); row j is joint j of "
            "frame t, column i joint i of frame t-1. Their statistics are tabled in `hidden_frames.md`."
        )
    else:
        lines.append("No cached `hidden_frames` results were found: run that experiment first for these pictures.")
    return "\n".join(lines)


def plot(payload: dict, out: Path) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return
    trained = payload["trained"]
    if not trained:
        return
    names = get_skeleton("penn_action").joint_names
    fig = Figure(figsize=(3.2 * len(trained), 6.4))
    axes = fig.subplots(2, len(trained), squeeze=False)
    for col, (variant, maps) in enumerate(trained.items()):
        for row, when in enumerate(("before", "after")):
            ax = axes[row][col]
            matrix = torch.tensor(maps[when]).numpy()  # matplotlib wants an array, not a tensor
            image = ax.imshow(matrix, vmin=0, vmax=max(float(matrix.max()), 1e-6), cmap="viridis")
            ax.set_title(f"{variant}, {when} training", fontsize=8)
            ax.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
            ax.set_yticks(range(len(names)), names, fontsize=5)
            fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(out / f"{NAME}.png", dpi=110)

"""Corrupted key frame: does VREMD read its supporting frames when the key frame fails it?

VREMD (vremd.txt) estimates the pose of the middle frame of three. Here that key frame is degraded
while the two supporting frames stay clean, in one of three ways:

- ``limb``: one arm (elbow, wrist) or leg (knee, ankle) of the person is not drawn in the key frame
  (:class:`~posemods.data.HiddenFrames` with ``first_frame=1``); its pixels show the background. The
  degraded joints are the limb's two, the other joints are untouched.
- ``blur``: the whole key frame blurred by a Gaussian of ``blur_sigma`` pixels: thin limbs melt into
  the background. Every joint is degraded.
- ``noise``: Gaussian noise of ``noise_sd`` added to every pixel of the key frame. Every joint is
  degraded.

Training clips are clean, or degraded in one of the three ways, a quarter each (the same clips, in the
same order, for every row): the degradation is augmentation, so a model that reads the supporting
frames is paid for it. Each evaluation clip is scored four times, once clean and once per degradation.

Rows (each trained from the same seed, on the same batches, for the same steps):

==========  =================================================================================
control     ``--variant hkm`` with T = 1: HKM on the key frame alone, no BMD (the issue's control)
hkm         ``--variant hkm``, T = 3: HKM's space-time blocks read all three frames, no BMD
dc          ``--variant table6:dc``: BMD with deformable convolution (Table 6 (a))
da          ``--variant table6:da``: plain deformable attention (b)
dca         ``--variant table6:dca``: the ADC block, DCA and cross attention, no BS (c)
dca+bs      ``--variant table6:dca+bs``: VREMD itself (d)
==========  =================================================================================

Every row but the control reads the supporting frames through HKM's keypoint step (its blocks attend
over the three frames' tokens), so ``hkm`` is the control for BMD: a BMD row that is no better than
``hkm`` has not shown that motion helps.

Diagnostics on every trained model (issue 18, item 6): the PCK when BMD's output is zeroed at test
time, when HKM's masks are all ones, with one head of ``H = H_k + H_m`` alone, and when the two
supporting frames are replaced by the key frame (no motion, nothing to read); the gradient's norm
on each part and on the two masks, at initialisation and after training.

A layer-level mechanism test (``mechanism_*`` settings): on random maps, the target at each pixel is
the content at that pixel plus a displacement drawn per pixel from eight vectors of length 2 to 3;
the displacement is coded either in the constraint F only or in the operator's own input. Only an
operator that samples where the code says can solve it; DCA's offsets (and reference points) read F,
DA's and DC's do not.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import numpy as np
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
)
from posemods.data import HiddenFrames, SyntheticPoseVideos

NAME = "corrupted_key_frame"
KINDS = ("clean", "limb", "blur", "noise")
#: row -> (``--variant``, T, what it is)
ROWS = {
    "control": ("hkm", 1, "T = 1: HKM on the key frame alone, no BMD"),
    "hkm": ("hkm", 3, "HKM over three frames, no BMD (Table 4 (a))"),
    "dc": ("table6:dc", 3, "Table 6 (a): deformable convolution"),
    "da": ("table6:da", 3, "Table 6 (b): plain deformable attention"),
    "dca": ("table6:dca", 3, "Table 6 (c): DCA + cross attention, no BS"),
    "dca+bs": ("table6:dca+bs", 3, "Table 6 (d): VREMD"),
}
#: The scores of a row: (degradation, joints) -> column name.
COLUMNS = {
    ("clean", "limb joints"): "limb joints, clean",
    ("limb", "degraded"): "limb: hidden joints",
    ("limb", "rest"): "limb: other joints",
    ("blur", "all"): "blur",
    ("noise", "all"): "noise",
    ("clean", "all"): "clean",
}
#: The spread of the predictions (std over clips of the predicted joints / of the true ones, on clean
#: key frames): 0 for a model that outputs one pose whatever it sees.
SPREAD = ("clean/spread", "spread")
#: Test-time switches of the diagnostics, scored on the limb and blur evaluations.
SWITCHES = ("bmd zeroed", "masks all ones", "H_k only", "H_m only", "key frame x3")
DIAGNOSED = (("limb", "degraded"), ("limb", "rest"), ("blur", "all"))

DEFAULTS = {
    **_vremd.BACKBONE_DEFAULTS,
    # False: no pretraining, the backbone trains from scratch with each row (what the first
    # VREMD runs did; they predicted the mean pose).
    "pretrain": True,
    "sigma": 2.0,
    "distractors": 0,
    "person_height": (0.55, 0.8),
    # Wider than the generator's default 0.08: with people always near the centre, the mean pose
    # scores 63 % PCK@0.2 and the models learn it instead of reading the image.
    "center_jitter": 0.2,
    "blur_sigma": 3.0,
    "noise_sd": 0.4,
    "train_clips": 1600,
    "eval_clips": 160,
    "steps": 400,
    "batch_size": 8,
    "lr": 1e-3,
    "warmup": 30,
    "rows": tuple(ROWS),
    "diagnostics": True,
    "threads": 1,
    "mechanism_size": 16,
    "mechanism_channels": 8,
    "mechanism_smooth": 1.5,
    "mechanism_steps": 600,
    "mechanism_maps": 512,
}
QUICK = {
    **DEFAULTS,
    **_vremd.QUICK_SIZES,
    "mechanism_size": 8,
    "mechanism_steps": 2,
    "mechanism_maps": 8,
}


# --------------------------------------------------------------------------------------------- data


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(3, H, W) blurred by a Gaussian of ``sigma`` pixels (separable, reflected at the border)."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(image.dtype)
    out = image[:, None]  # (3, 1, H, W): each channel on its own
    out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return out[:, 0]


def degrade(clip: dict, kind: str, settings: dict, seed: int, index: int) -> torch.Tensor:
    """The clip's frames with the key frame (1) degraded by ``kind``: blur or noise (``limb`` comes
    from the dataset that does not draw the limb, ``clean`` is the clip)."""
    frames = clip["frames"].clone()
    if kind == "blur":
        frames[1] = gaussian_blur(frames[1], settings["blur_sigma"])
    elif kind == "noise":
        noise = np.random.default_rng([seed, index, 7]).standard_normal(frames[1].shape)
        frames[1] = (frames[1] + settings["noise_sd"] * torch.from_numpy(noise).float()).clamp(0, 1)
    return frames


def datasets(settings: dict, seed: int, num: int) -> tuple[SyntheticPoseVideos, SyntheticPoseVideos]:
    """(the clips, the same clips with one limb not drawn in the key frame)."""
    common = dict(
        clip_length=3,
        frame_size=tuple(settings["size"]),
        heatmap_size=_vremd.heatmap_size(settings),
        sigma=settings["sigma"],
        seed=seed,
        distractors=settings["distractors"],
        person_height=tuple(settings["person_height"]),
        center_jitter=settings["center_jitter"],
    )
    plain = SyntheticPoseVideos(num, **common)
    return plain, SyntheticPoseVideos(num, hidden=HiddenFrames((1,), "limb", first_frame=1), **common)


def make_clips(settings: dict, seed: int, kinds: list[str]) -> dict[str, torch.Tensor]:
    """Clip i degraded by ``kinds[i]``: the kept tensors, ``kind`` (N,) and ``degraded`` (N, J), the
    key frame's joints the degradation reaches."""
    plain, hidden = datasets(settings, seed, len(kinds))
    clips = []
    for i, kind in enumerate(kinds):
        clip = (hidden if kind == "limb" else plain)[i]
        out = {k: clip[k] for k in _vremd.KEEP}
        out["frames"] = _vremd.to_uint8(degrade(clip, kind, settings, seed, i))
        joints = clip["joints"].shape[1]
        if kind == "limb":
            out["degraded"] = hidden.hidden_joints(i)[1]
        else:
            out["degraded"] = torch.full((joints,), kind != "clean")
        out["kind"] = torch.tensor(KINDS.index(kind))
        clips.append(out)
    return {k: torch.stack([c[k] for c in clips]) for k in clips[0]}


def data_key(settings: dict) -> dict:
    return {
        k: settings[k]
        for k in (
            "size",
            "patch",
            "sigma",
            "distractors",
            "person_height",
            "center_jitter",
            "blur_sigma",
            "noise_sd",
            "train_clips",
        )
    } | {"version": 1}


def training_data(settings: dict, cache_dir: Path) -> dict:
    """``train_clips`` clips of dataset seed 0, each clean or degraded (a quarter each, shuffled)."""
    num = settings["train_clips"]
    order = np.random.default_rng(12345).permutation(num)
    kinds = [KINDS[int(i) % len(KINDS)] for i in order]
    return cached("vremd-corrupted-train", lambda: make_clips(settings, 0, kinds), data_key(settings), cache_dir)


def evaluation_data(settings: dict, cache_dir: Path) -> dict[str, dict]:
    """Per degradation, the same ``eval_clips`` clips of dataset seed 1 (never trained on)."""
    key = data_key(settings) | {"eval_clips": settings["eval_clips"]}
    num = settings["eval_clips"]
    return {
        kind: cached(
            f"vremd-corrupted-eval-{kind}", lambda kind=kind: make_clips(settings, 1, [kind] * num), key, cache_dir
        )
        for kind in KINDS
    }


# ------------------------------------------------------------------------------------ evaluation


def scores(model: nn.Module, frames: int, evaluation: dict[str, dict], kinds=KINDS, video=None) -> dict[str, float]:
    """Key-frame PCK@0.2 per column (``"kind/joints"``)."""
    out = {}
    for kind in kinds:
        data = evaluation[kind]
        correct, counted, pred = _vremd.key_frame_hits(model, data, frames, video=video, return_pred=True)
        degraded = data["degraded"]
        out[f"{kind}/all"] = _vremd.pck(correct, counted)
        if kind == "limb":
            out["limb/degraded"] = _vremd.pck(correct, counted, degraded)
            out["limb/rest"] = _vremd.pck(correct, counted, ~degraded)
        if kind == "clean":  # the joints the limb evaluation hides, in the same clips shown whole
            out["clean/limb joints"] = _vremd.pck(correct, counted, evaluation["limb"]["degraded"])
            out["clean/spread"] = _vremd.spread(pred, data)
    return out


def reference_scores(settings: dict, data: dict, evaluation: dict, pretrained: dict) -> dict:
    """What needs no VREMD row: the training set's mean pose, and the pretrained per-frame model
    (ViTPose on the key frame, never shown a degraded frame)."""
    from posemods.metrics.pck import pck_hits

    mean = data["joints"][:, 1].double().mean(0)
    pose = {}
    for kind in KINDS:
        e = evaluation[kind]
        pred = mean.expand(e["joints"].shape[0], -1, -1)
        correct, counted = pck_hits(pred, e["joints"][:, 1].double(), e["target_weight"][:, 1], e["person_size"][:, 1])
        pose[f"{kind}/all"] = _vremd.pck(correct, counted)
        if kind == "limb":
            pose["limb/degraded"] = _vremd.pck(correct, counted, e["degraded"])
            pose["limb/rest"] = _vremd.pck(correct, counted, ~e["degraded"])
        if kind == "clean":
            pose["clean/limb joints"] = _vremd.pck(correct, counted, evaluation["limb"]["degraded"])
    pose["clean/spread"] = 0.0
    references = {"mean pose": ("the training clips' mean key-frame pose, whatever the image", pose)}
    if pretrained is not None:
        model = _vremd.build_vremd("baseline", data["heatmaps"].shape[2], 1, settings)
        model.load_state_dict(pretrained["model"])
        what = "the frozen backbone's pretraining model (ViTPose, T = 1, clean frames only)"
        references["pretrained"] = (what, scores(model, 1, evaluation))
    return references


def diagnose(model: nn.Module, frames: int, evaluation: dict[str, dict]) -> dict[str, dict[str, float]]:
    """The PCK under each test-time switch that applies to this model, on the limb and blur clips."""
    out = {}
    for switch in SWITCHES:
        if switch == "bmd zeroed" and model.bmd is None:
            continue
        if switch == "key frame x3" and frames == 1:
            continue
        video = _vremd.key_frame_everywhere if switch == "key frame x3" else None
        if switch == "bmd zeroed":
            context = _vremd.bmd_zeroed(model)
        elif switch == "masks all ones":
            context = _vremd.masks_off(model)
        elif switch.startswith("H_"):
            context = _vremd.one_head(model, "keypoint" if switch == "H_k only" else "motion")
        else:
            context = contextlib.nullcontext()
        with context:
            out[switch] = scores(model, frames, evaluation, kinds=("limb", "blur"), video=video)
    return out


# ------------------------------------------------------------------------------------ mechanism

#: The eight displacements (dx, dy) of the mechanism test, all out of a 3 x 3 neighbourhood's reach.
DISPLACEMENTS = ((3, 0), (-3, 0), (0, 3), (0, -3), (2, 2), (-2, 2), (2, -2), (-2, -2))
MECHANISM_OPERATORS = ("dca", "da", "dc", "conv3x3")
MECHANISM_CONDITIONS = {
    "code in F": "the displacement's code is in the constraint F only; x holds the content",
    "code in x": "x holds the content and the code; F is x",
}


def mechanism_maps(settings: dict, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(content (B, C, S, S), code (B, K, S, S) one-hot, target (B, C, S, S))``: target(p) =
    content(p + d(p)), zero where p + d(p) leaves the map."""
    size, channels = settings["mechanism_size"], settings["mechanism_channels"]
    generator = torch.Generator().manual_seed(seed)
    content = torch.randn(count, channels, size, size, generator=generator)
    if settings["mechanism_smooth"] > 0:
        # Smooth content, as feature maps are: a sampling point one pixel off still correlates with
        # the target, so the loss has a slope toward the displaced location. On white noise it has
        # none beyond the pixels the operator already samples, and no gradient-trained offset finds it.
        content = gaussian_blur(content.flatten(0, 1), settings["mechanism_smooth"]).view_as(content)
        content = content / content.std(dim=(2, 3), keepdim=True)
    choice = torch.randint(0, len(DISPLACEMENTS), (count, size, size), generator=generator)
    code = F.one_hot(choice, len(DISPLACEMENTS)).permute(0, 3, 1, 2).float()
    shift = torch.tensor(DISPLACEMENTS)[choice]  # (B, S, S, 2) as (dx, dy)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    sx, sy = xs + shift[..., 0], ys + shift[..., 1]
    inside = (sx >= 0) & (sx < size) & (sy >= 0) & (sy < size)
    batch = torch.arange(count)[:, None, None].expand_as(sx)
    picked = content.permute(0, 2, 3, 1)[batch, sy.clamp(0, size - 1), sx.clamp(0, size - 1)]  # (B, S, S, C)
    target = (picked * inside[..., None]).permute(0, 3, 1, 2)
    return content, code, target


class MechanismModel(nn.Module):
    """One operator on a C + K wide map, then a linear read-out to the C content channels."""

    def __init__(self, operator: str, channels: int, codes: int) -> None:
        super().__init__()
        from posemods.modules.deformable_motion import deformable_motion

        dim = channels + codes
        self.operator = operator
        if operator == "conv3x3":
            self.op = nn.Conv2d(dim, dim, 3, padding=1)
        else:
            self.op = deformable_motion(operator, dim, num_heads=2, num_points=4)
        self.readout = nn.Linear(dim, channels)

    def forward(self, x: torch.Tensor, constraint: torch.Tensor) -> torch.Tensor:
        """x, constraint (B, D, S, S) -> (B, C, S, S)."""
        batch, _, height, width = x.shape
        if self.operator == "conv3x3":
            out = self.op(x).flatten(2).transpose(1, 2)
        else:
            tokens = lambda m: m.flatten(2).transpose(1, 2)  # (B, L, D)
            out = self.op(tokens(x), tokens(constraint), (height, width))
        return self.readout(out).transpose(1, 2).reshape(batch, -1, height, width)


def mechanism_inputs(content, code, condition):
    zeros_c, zeros_k = torch.zeros_like(content), torch.zeros_like(code)
    if condition == "code in F":
        return torch.cat([content, zeros_k], 1), torch.cat([zeros_c, code], 1)
    x = torch.cat([content, code], 1)
    return x, x


def mechanism(settings: dict, seeds: list[int]) -> dict:
    """Explained variance (1 - MSE / Var(target)) on held-out maps, per condition, operator and seed."""
    test = mechanism_maps(settings, 64, seed=10_000)
    out = {condition: {op: {} for op in MECHANISM_OPERATORS} for condition in MECHANISM_CONDITIONS}
    for seed in seeds:
        train_maps = mechanism_maps(settings, settings["mechanism_maps"], seed=seed)
        for condition in MECHANISM_CONDITIONS:
            for operator in MECHANISM_OPERATORS:
                torch.manual_seed(seed)
                model = MechanismModel(operator, settings["mechanism_channels"], len(DISPLACEMENTS))
                optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
                generator = torch.Generator().manual_seed(seed)
                start = time.perf_counter()
                for _ in range(settings["mechanism_steps"]):
                    idx = torch.randint(0, settings["mechanism_maps"], (16,), generator=generator)
                    content, code, target = (t[idx] for t in train_maps)
                    loss = F.mse_loss(model(*mechanism_inputs(content, code, condition)), target)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    content, code, target = test
                    mse = F.mse_loss(model(*mechanism_inputs(content, code, condition)), target)
                explained = 100.0 * (1.0 - float(mse) / float(target.var()))
                out[condition][operator][seed] = explained
                print(
                    f"   mechanism {condition:9s} {operator:8s} seed {seed}: explained {explained:6.1f} % "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    return out


# ------------------------------------------------------------------------------------------ run

#: Bump when a change to the code changes what a trained row's record would hold.
RECORD_VERSION = 1


def train_row(
    row: str, seed: int, settings: dict, data: dict, evaluation: dict, pretrained: dict, device: str, path: Path
) -> dict:
    """Train one row from ``seed``, save its weights at ``path`` and score it: its JSON record."""
    variant, frames, _ = ROWS[row]
    torch.manual_seed(seed)
    backbone = None if pretrained is None else pretrained["vit"]
    model = _vremd.build_vremd(variant, data["heatmaps"].shape[2], frames, settings, backbone).to(device)
    predict = _vremd.make_predict(frames)
    first = {k: v[: settings["batch_size"]].to(device) for k, v in data.items()}
    record: dict = {"grad_norms_init": _vremd.grad_norms(model, first, predict)}
    log = train(
        model, data, predict, settings["steps"], settings["batch_size"], settings["lr"], seed,
        warmup=settings["warmup"], device=device,
    )  # fmt: skip
    record["grad_norms_trained"] = _vremd.grad_norms(model, first, predict)
    record["train_seconds"], record["losses"] = log.seconds, log.losses
    model.cpu()
    torch.save(model.state_dict(), path)
    record["pck"] = scores(model, frames, evaluation)
    if settings["diagnostics"]:
        record["diagnostics"] = diagnose(model, frames, evaluation)
    return record


def run(settings: dict, seeds: list[int], device: str, out: Path) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(settings["threads"])
    rows = [r for r in settings["rows"]]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise ValueError(f"rows: expected names among {list(ROWS)}, got {unknown}")
    cache_dir = _vremd.cache_dir()
    data = training_data(settings, cache_dir)
    evaluation = evaluation_data(settings, cache_dir)
    print(f"   data ready ({time.perf_counter() - started:.0f} s)", flush=True)
    pretrained = None
    if settings["pretrain"]:
        pretrained = _vremd.pretrained_backbone(
            settings,
            "vremd-corrupted-backbone",
            lambda: make_clips(settings, 2, ["clean"] * settings["pretrain_clips"]),
            data_key(settings) | {"pretrain_clips": settings["pretrain_clips"]},
            device,
        )
        print(f"   backbone ready ({float(pretrained['seconds']):.0f} s to pretrain)", flush=True)
    references = reference_scores(settings, data, evaluation, pretrained)

    results: dict[str, dict[int, dict]] = {row: {} for row in rows}
    for seed in seeds:
        for row in rows:
            key = {k: v for k, v in settings.items() if k not in ("rows", "threads") and not k.startswith("mechanism")}
            key |= {"row": row, "seed": seed, "device": device, "version": RECORD_VERSION}
            record = _vremd.cached_record(
                f"vremd-corrupted-{row}",
                key,
                lambda path, row=row, seed=seed: train_row(
                    row, seed, settings, data, evaluation, pretrained, device, path
                ),
            )
            results[row][seed] = record
            pck = record["pck"]
            print(
                f"   seed {seed} {row:8s}: limb hidden {pck['limb/degraded']:5.1f} "
                f"(clean {pck['clean/limb joints']:5.1f}), rest {pck['limb/rest']:5.1f}, blur {pck['blur/all']:5.1f}, "
                f"noise {pck['noise/all']:5.1f}, clean {pck['clean/all']:5.1f} "
                f"({record['train_seconds']:.0f} s training, loss {record['losses'][-1]:.2e})",
                flush=True,
            )

    mech = mechanism(settings, seeds) if settings["mechanism_steps"] > 0 else {}
    payload = {
        "settings": settings,
        "seeds": seeds,
        "rows": {row: {"variant": ROWS[row][0], "frames": ROWS[row][1], "what": ROWS[row][2]} for row in rows},
        "references": references,
        "pretrain_seconds": None if pretrained is None else float(pretrained["seconds"]),
        "results": {row: {str(seed): r for seed, r in per.items()} for row, per in results.items()},
        "mechanism": {
            c: {op: {str(s): v for s, v in per.items()} for op, per in ops.items()} for c, ops in mech.items()
        },
        "run": run_info(started),
    }
    markdown = report(settings, seeds, rows, results, mech, references)
    write(NAME, payload, markdown, out, committed=is_committed_run(settings, DEFAULTS, seeds, device))
    plot(rows, results, mech, out / f"{NAME}.png")
    return payload


# --------------------------------------------------------------------------------------- report


def _column(results: dict, row: str, key: str) -> dict[int, float]:
    return {seed: record["pck"][key] for seed, record in results[row].items()}


def report(settings: dict, seeds: list[int], rows: list[str], results: dict, mech: dict, references: dict) -> str:
    keys = [f"{kind}/{joints}" for kind, joints in COLUMNS]
    lines = [
        "# Corrupted key frame: VREMD's rows when the key frame is degraded and its neighbours are clean",
        "",
        f"Key-frame PCK@0.2 (%, person size) on {settings['eval_clips']} held-out clips, each scored clean and with "
        f"each degradation of its key frame; {settings['steps']} AdamW steps of {settings['batch_size']} clips "
        f"({settings['train_clips']} training clips, a quarter clean and a quarter per degradation), "
        f"{settings['size'][0]} x {settings['size'][1]} px, patch {settings['patch']}, preset "
        f"`{settings['preset']}`, seeds {seeds}. Mean ± sd over the seeds.",
        "",
        "| row | what | " + " | ".join(COLUMNS.values()) + f" | {SPREAD[1]} |",
        "|---|---|" + "---:|" * (len(COLUMNS) + 1),
    ]
    for row in rows:
        cells = []
        for key in (*keys, SPREAD[0]):
            m, s = mean_sd(_column(results, row, key).values())
            digits = 2 if key == SPREAD[0] else 1
            cells.append(f"{fmt(m, digits)} ± {fmt(s, digits)}")
        lines.append(f"| {row} | {ROWS[row][2]} | " + " | ".join(cells) + " |")
    for name, (what, values) in references.items():
        cells = [fmt(values[key]) for key in keys] + [fmt(values.get(SPREAD[0], math.nan), 2)]
        lines.append(f"| *{name}* | {what} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"*{SPREAD[1]}*: the std over clips of the predicted key-frame joints over that of the true ones "
        "(clean clips, mean over joints and axes); near 0 means one pose whatever the image.",
    ]

    pairs = [(row, "control") for row in rows if row != "control"]
    pairs += [("hkm", row) for row in rows if row not in ("control", "hkm")]
    pairs += [(a, "dca") for a in ("dc", "da")] + [("dca", "dca+bs")]
    pairs = [(a, b) for a, b in pairs if a in rows and b in rows]
    seen, ordered = set(), []
    for a, b in pairs:  # "row - control" reads b - a with a = control
        pair = (b, a) if b == "control" else (a, b)
        if pair not in seen:
            seen.add(pair)
            ordered.append(pair)
    lines += [
        "",
        "Paired differences (second minus first, per seed, then mean ± sd):",
        "",
        "| pair | " + " | ".join(COLUMNS.values()) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for a, b in ordered:
        cells = [fmt_paired(paired(_column(results, a, key), _column(results, b, key))) for key in keys]
        lines.append(f"| {b} - {a} | " + " | ".join(cells) + " |")

    if any("diagnostics" in r for per in results.values() for r in per.values()):
        lines += [
            "",
            "## Diagnostics",
            "",
            "PCK after a test-time switch, minus the model's own PCK (mean ± sd over seeds): "
            "*bmd zeroed* replaces BMD's output M by zeros; *masks all ones* turns HKM's two masks off; "
            "*H_k only* / *H_m only* keep one head of H = H_k + H_m; *key frame x3* feeds the degraded key "
            "frame in place of both supporting frames.",
            "",
            "| row | switch | " + " | ".join(COLUMNS[c] for c in DIAGNOSED) + " |",
            "|---|---|" + "---:|" * len(DIAGNOSED),
        ]
        for row in rows:
            for switch in SWITCHES:
                if not all(switch in r.get("diagnostics", {}) for r in results[row].values()):
                    continue
                cells = []
                for kind, joints in DIAGNOSED:
                    key = f"{kind}/{joints}"
                    base = _column(results, row, key)
                    switched = {s: r["diagnostics"][switch][key] for s, r in results[row].items()}
                    cells.append(fmt_paired(paired(base, switched)))
                lines.append(f"| {row} | {switch} | " + " | ".join(cells) + " |")
        parts = list(next(iter(next(iter(results.values())).values()))["grad_norms_init"])
        lines += [
            "",
            "Gradient norms of the heatmap loss on the first training batch, at initialisation -> after "
            "training (mean over seeds):",
            "",
            "| row | " + " | ".join(parts) + " |",
            "|---|" + "---:|" * len(parts),
        ]
        for row in rows:
            cells = []
            for part in parts:
                init = _mean(r["grad_norms_init"].get(part, math.nan) for r in results[row].values())
                done = _mean(r["grad_norms_trained"].get(part, math.nan) for r in results[row].values())
                cells.append(f"{_sci(init)} -> {_sci(done)}")
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        seconds = {row: mean_sd(r["train_seconds"] for r in results[row].values())[0] for row in rows}
        lines += [
            "",
            "Training time per row and seed (mean): " + ", ".join(f"{r} {s:.0f} s" for r, s in seconds.items()),
        ]

    if mech:
        lines += [
            "",
            "## Mechanism: sampling where a code says",
            "",
            f"{settings['mechanism_size']} x {settings['mechanism_size']} maps of {settings['mechanism_channels']} "
            f"random channels; the target at p is the content at p + d(p), d(p) one of {len(DISPLACEMENTS)} "
            f"displacements of length 2 to 3 px drawn per pixel; {settings['mechanism_steps']} Adam steps of 16 "
            "maps. Explained variance (%, 1 - MSE / Var) on 64 held-out maps, mean ± sd over seeds. Each operator is "
            "the library's module (2 heads, 4 points), then a linear read-out; `conv3x3` is a plain 3 x 3 conv.",
            "",
            "| condition | " + " | ".join(MECHANISM_OPERATORS) + " |",
            "|---|" + "---:|" * len(MECHANISM_OPERATORS),
        ]
        for condition, ops in mech.items():
            cells = []
            for op in MECHANISM_OPERATORS:
                m, s = mean_sd(ops[op].values())
                cells.append(f"{fmt(m)} ± {fmt(s)}")
            lines.append(f"| {condition}: {MECHANISM_CONDITIONS[condition]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean(values) -> float:
    """The mean of the values that are numbers (NaN: the part does not exist in this row)."""
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _sci(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1e}"


def plot(rows: list[str], results: dict, mech: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [f"{kind}/{joints}" for kind, joints in COLUMNS]
    panels = 2 if mech else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    width = 0.8 / max(len(rows), 1)
    for r, row in enumerate(rows):
        for k, key in enumerate(keys):
            values = list(_column(results, row, key).values())
            m, s = mean_sd(values)
            x = k + (r - (len(rows) - 1) / 2) * width
            ax.bar(x, m, width, yerr=0 if math.isnan(s) else s, color=f"C{r}", label=row if k == 0 else None)
            ax.plot([x] * len(values), values, "k.", markersize=3)
    ax.set_xticks(range(len(keys)), [COLUMNS[tuple(k.split("/"))] for k in keys], rotation=15)
    ax.set_ylabel("key-frame PCK@0.2 (%)")
    ax.set_title("Key frame degraded, supporting frames clean")
    ax.legend(fontsize=7)
    if mech:
        ax = axes[0, 1]
        conditions = list(mech)
        width = 0.8 / len(MECHANISM_OPERATORS)
        for o, op in enumerate(MECHANISM_OPERATORS):
            for c, condition in enumerate(conditions):
                values = list(mech[condition][op].values())
                m, s = mean_sd(values)
                x = c + (o - (len(MECHANISM_OPERATORS) - 1) / 2) * width
                ax.bar(x, m, width, yerr=0 if math.isnan(s) else s, color=f"C{o}", label=op if c == 0 else None)
                ax.plot([x] * len(values), values, "k.", markersize=3)
        ax.set_xticks(range(len(conditions)), conditions)
        ax.set_ylabel("explained variance (%)")
        ax.set_title("Mechanism: sample at p + d(p), d coded per pixel")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

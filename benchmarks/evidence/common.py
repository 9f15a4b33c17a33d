"""What every evidence experiment shares: settings, cached data, one training loop, paired statistics,
and results written with the command, the commit and the wall time beside them.

An experiment is a claim. Within a pair of variants everything but the variant is the same: the
training clips (generated once and cached), the order in which batches are drawn (a generator seeded
by the seed alone), the number of steps, the initial weights of every block the two share (the model
is built after ``torch.manual_seed(seed)``) and the evaluation clips. Differences are reported per
seed, then as mean ± sd over the seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from posemods.training.loop import WarmupCosine, heatmap_loss

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "evidence"


def parse_settings(defaults: dict, overrides: Iterable[str]) -> dict:
    """``defaults`` updated by ``key=value`` strings; each value is parsed as its default's type.

    Tuples take comma-separated values (``size=128,128``). An unknown key or a value that does not
    parse is a ``ValueError`` naming it and the keys there are.
    """
    settings = dict(defaults)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in defaults:
            raise ValueError(f"--set {item!r}: expected key=value with a key among {sorted(defaults)}")
        default = defaults[key]
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                value = text.lower() in ("true", "1")
            elif isinstance(default, tuple):
                value = tuple(type(default[0])(v) for v in text.split(","))
            else:
                value = type(default)(text)
        except ValueError:
            raise ValueError(f"--set {item!r}: expected a {type(default).__name__} like {default!r}") from None
        settings[key] = value
    return settings


def digest(key) -> str:
    """A short, stable digest of a JSON-able ``key`` (settings, variant, seed...): the cache's file names."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached(name: str, make: Callable[[], dict[str, torch.Tensor]], key: dict, cache_dir: Path) -> dict:
    """``make()``'s tensors, saved under ``cache_dir`` by a digest of ``key`` and loaded on the next call.

    Generating clips costs as much as a few hundred training steps, and every variant and seed of an
    experiment trains on the same clips: they are made once.
    """
    path = cache_dir / f"{name}-{digest(key)}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    data = make()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # processes of other seeds may write it at once
    torch.save(data, tmp)
    tmp.replace(path)
    return data


def stack_clips(dataset, indices: Iterable[int], extra: Callable[[int], dict] | None = None) -> dict:
    """The clips of ``dataset`` at ``indices`` stacked along a new batch axis (plus ``extra(i)``'s keys)."""
    clips = []
    for i in indices:
        clip = dict(dataset[i])
        if extra is not None:
            clip.update(extra(i))
        clips.append(clip)
    return {k: torch.stack([c[k] for c in clips]) for k in clips[0]}


@dataclasses.dataclass
class TrainLog:
    steps: int
    seconds: float
    losses: list[float]


def train(
    model: torch.nn.Module,
    data: dict[str, torch.Tensor],
    predict: Callable[[torch.nn.Module, dict], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    warmup: int = 30,
    weight_decay: float = 1e-4,
    device: str = "cpu",
    log_every: int = 50,
    extra_loss: Callable[[dict], torch.Tensor] | None = None,
) -> TrainLog:
    """AdamW with warm-up and cosine decay on batches drawn (with replacement) from ``data``.

    ``predict(model, batch) -> (pred, target, target_weight)``: which outputs the loss compares with
    which targets (every frame for the recursive models, the key frame for VREMD). The batches depend
    on ``seed`` alone, so two variants of one seed see the same clips in the same order.
    ``extra_loss(batch)``, called after ``predict``, is added to the heatmap loss (an auxiliary loss).
    """
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup, steps))
    generator = torch.Generator().manual_seed(seed)
    num = data["frames"].shape[0]
    losses, start = [], time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, num, (batch_size,), generator=generator)
        batch = {k: v[idx].to(device) for k, v in data.items()}
        pred, target, weight = predict(model, batch)
        loss = heatmap_loss(pred, target, weight)
        if extra_loss is not None:
            loss = loss + extra_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"training diverged at step {step}: loss {loss.item()}")
        if step % log_every == 0 or step == steps - 1:
            losses.append(float(loss.detach()))
    return TrainLog(steps, time.perf_counter() - start, losses)


def paired(a: dict[int, float], b: dict[int, float]) -> dict:
    """``b - a`` per seed (the seeds both have), with mean, sd (n - 1) and n."""
    seeds = sorted(set(a) & set(b))
    diffs = [b[s] - a[s] for s in seeds]
    sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
    return {"seeds": seeds, "diffs": diffs, "mean": statistics.fmean(diffs) if diffs else float("nan"), "sd": sd}


def mean_sd(values: Iterable[float]) -> tuple[float, float]:
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else float("nan"))


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def fmt_paired(p: dict) -> str:
    """``+12.3 ± 1.4`` (mean ± sd of the per-seed differences)."""
    return f"{p['mean']:+.1f} ± {fmt(p['sd'])}"


def run_info(started: float, argv: list[str] | None = None) -> dict:
    """The command, the commit (and whether the tree had uncommitted changes), the machine, the wall time."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    argv = sys.argv if argv is None else argv
    return {
        "command": "python -m benchmarks.evidence " + " ".join(argv[1:]) if argv else "",
        "commit": git("rev-parse", "--short", "HEAD"),
        # Results this run (or an earlier experiment of it) has just written are not changes to the code.
        "uncommitted_changes": bool(
            git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks/results")
        ),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }


def check_variants(settings: dict, known) -> None:
    """A ``ValueError`` naming the ``variants`` setting's unknown names and the known ones."""
    unknown = [v for v in settings["variants"] if v not in known]
    if unknown:
        raise ValueError(f"variants: {unknown} are not among {sorted(known)}")


def cache_dir() -> Path:
    """Where trained models, their records and generated data are kept between runs (and reused by a later
    run with the same settings): ``$POSEMODS_EVIDENCE_CACHE``, else ``~/.cache/posemods/evidence``."""
    return Path(os.environ.get("POSEMODS_EVIDENCE_CACHE", Path.home() / ".cache" / "posemods" / "evidence"))


READINGS = Path(__file__).with_name("readings")


def is_committed_run(settings: dict, defaults: dict, seeds, device: str) -> bool:
    """Whether a run is the one whose results are committed: the default settings, seeds 0, 1, 2, on the
    CPU. Only that run's report carries the written reading."""
    return settings == defaults and list(seeds) == [0, 1, 2] and device == "cpu"


def write(
    name: str, payload: dict, markdown: str, out: Path = RESULTS, *, committed: bool = False
) -> tuple[Path, Path]:
    """``out/<name>.json`` and ``out/<name>.md``; the Markdown ends with the run's command and commit.

    ``committed``: append the written reading of the committed run, ``readings/<name>.md``; a reading of
    other settings would describe numbers the report does not show.
    """
    reading = READINGS / f"{name}.md"
    if committed and reading.exists():
        markdown = markdown.rstrip() + "\n\n" + reading.read_text().strip()
    out.mkdir(parents=True, exist_ok=True)
    info = payload.get("run", {})
    footer = (
        f"\n\nCommand: `{info.get('command', '')}` at commit {info.get('commit', '?')}"
        f"{' (with uncommitted changes)' if info.get('uncommitted_changes') else ''}; "
        f"wall time {info.get('wall_seconds', '?')} s on {info.get('machine', '?')}, "
        f"{info.get('threads', '?')} thread(s), torch {info.get('torch', '?')}.\n"
    )
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    md_path.write_text(markdown.rstrip() + footer)
    return json_path, md_path

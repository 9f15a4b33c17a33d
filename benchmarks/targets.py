"""The performance targets, computed as ratios from one run's results. Benchmarks, never unit tests."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Side:
    module: str
    provider: str


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    numerator: Side
    denominator: Side
    shape: str  # both sides' shape label
    mode: str
    metric: str  # "median_ms" or "peak_mb"
    limit: float  # numerator / denominator must be <= limit
    info: tuple[tuple[str, str], ...] = ()  # what both sides' rows must say they built, e.g. their backbones


DCA_SHAPE = "B=8 C=256 G=8 N=4 64x48"
TARGETS = [
    Target("DCA reference at least 5x faster than naive grid_sample",
           Side("DCA", "posemods reference"), Side("DCA", "naive grid_sample"),
           DCA_SHAPE, "forward+backward", "median_ms", 1 / 5),
    Target("DCA reference uses at most 1/5 of naive grid_sample's peak memory",
           Side("DCA", "posemods reference"), Side("DCA", "naive grid_sample"),
           DCA_SHAPE, "forward+backward", "peak_mb", 1 / 5),
    Target("KMM costs at most 1.5x its two 1x1 convolutions",
           Side("KMM", "posemods reference"), Side("KMM", "two 1x1 convs alone"),
           "B=8 C=256 J=17 64x48", "forward+backward", "median_ms", 1.5),
    Target("KIMNet per-frame latency at most RPSTN's (both ResNet-101 / ResNet-50, 256x256, B=1)",
           Side("KIMNet", "temporal=kmm"), Side("RPSTN", "temporal=original"),
           "B=1 T=5 256x256", "inference", "median_ms", 1.0, (("backbones", "resnet101 / resnet50"),)),
]  # fmt: skip


def _find(results, side: Side, target: Target):
    for r in results:
        c = r.case
        same = (c.module, c.provider, c.shape, c.mode) == (side.module, side.provider, target.shape, target.mode)
        if same and all(c.info.get(k) == v for k, v in target.info) and not r.error:
            return r
    return None


def evaluate(results) -> list[tuple[Target, float | None, float | None]]:
    """(target, numerator value, denominator value) for every target; None where not measured: a row
    counts only where its shape label and what it says it built are the target's."""
    rows = []
    for t in TARGETS:
        num, den = _find(results, t.numerator, t), _find(results, t.denominator, t)
        rows.append((t, getattr(num, t.metric, None) if num else None, getattr(den, t.metric, None) if den else None))
    return rows


def _measured_instead(results, t: Target) -> str:
    """What this run measured of the target's numerator module, when it was not the target's case."""
    built = {
        f"{r.case.shape}" + "".join(f", {r.case.info[k]}" for k, _ in t.info if k in r.case.info)
        for r in results
        if (r.case.module, r.case.provider, r.case.mode) == (t.numerator.module, t.numerator.provider, t.mode)
    }
    return f" (this run built {'; '.join(sorted(built))})" if built else ""


def report(results) -> str:
    lines = ["## Targets", "", "| target | measured | ratio | limit | met |", "|---|---|---|---|---|"]
    for t, a, b in evaluate(results):
        if not a or not b:
            lines.append(
                f"| {t.name} | not measured in this run{_measured_instead(results, t)} | - | {t.limit:.2g} | - |"
            )
            continue
        ratio = a / b
        met = "yes" if ratio <= t.limit else f"no, by {ratio / t.limit:.2f}x"
        unit = "ms" if t.metric == "median_ms" else "MB"
        lines.append(f"| {t.name} | {a:.4g} / {b:.4g} {unit} | {ratio:.3f} | {t.limit:.3g} | {met} |")
    lines.append("")
    return "\n".join(lines)

"""The performance targets, computed as ratios from one run's results. Benchmarks, never unit tests."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    module: str
    shape_contains: str
    mode: str
    numerator: str  # provider
    denominator: str  # provider
    metric: str  # "median_ms" or "peak_mb"
    limit: float  # numerator / denominator must be <= limit


TARGETS = [
    Target("KMM costs at most 1.5x its two 1x1 convolutions", "KMM", "B=8 C=256 J=17 64x48", "forward+backward",
           "posemods reference", "two 1x1 convs alone", "median_ms", 1.5),
]  # fmt: skip


def _find(results, module, shape_contains, mode, provider):
    for r in results:
        c = r.case
        if (
            c.module == module
            and shape_contains in c.shape
            and c.mode == mode
            and c.provider == provider
            and not r.error
        ):
            return r
    return None


def report(results) -> str:
    lines = ["## Targets", "", "| target | measured ratio | limit | met |", "|---|---|---|---|"]
    for t in TARGETS:
        num = _find(results, t.module, t.shape_contains, t.mode, t.numerator)
        den = _find(results, t.module, t.shape_contains, t.mode, t.denominator)
        a = getattr(num, t.metric, None) if num else None
        b = getattr(den, t.metric, None) if den else None
        if not a or not b:
            lines.append(f"| {t.name} | not measured in this run | {t.limit} | - |")
            continue
        ratio = a / b
        met = "yes" if ratio <= t.limit else f"no, by {ratio / t.limit:.2f}x"
        lines.append(f"| {t.name} ({t.metric}: {a:.3g} / {b:.3g}) | {ratio:.2f} | {t.limit} | {met} |")
    lines.append("")
    return "\n".join(lines)

"""Parameter counts, the latency helper, and the retrofit example end to end."""

import torch
from conftest import run_example
from torch import nn

from posemods import KMM
from posemods.models import count_parameters, per_frame_latency, summary


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.temporal = KMM(4, 3, shared_projection=True)  # one conv under two names
        self.decoder = nn.Conv2d(3, 3, 1)


def test_counts_by_component_and_tied_weights_once():
    counts = count_parameters(Pair())
    assert counts == {"temporal": 4 * 3 + 3, "decoder": 3 * 3 + 3, "total": 15 + 12}
    text = summary(Pair())
    assert text.splitlines()[0] == "Pair" and "temporal" in text and "total" in text


def test_latency_is_per_predicted_frame_and_restores_the_mode():
    calls = []

    class EveryFrame(nn.Module):  # (B, T, 3, H, W) -> (B, T, J, h, w), like KIMNet
        def forward(self, video):
            calls.append((self.training, torch.is_grad_enabled()))
            return video[:, :, :2]

    class KeyFrame(nn.Module):  # (B, T, 3, H, W) -> (B, J, h, w), like VREMD
        def forward(self, video):
            return video[:, 1, :2]

    model = EveryFrame().train()
    result = per_frame_latency(model, torch.zeros(1, 4, 3, 8, 8), repeats=3, warmup=1)
    assert calls == [(False, False)] * 4 and model.training
    assert 0 < result["min_ms"] <= result["median_ms"] and result["repeats"] == 3 and result["frames"] == 4
    assert per_frame_latency(KeyFrame(), torch.zeros(1, 3, 3, 8, 8), repeats=1)["frames"] == 1


def test_retrofit_example_runs():
    sizes = ["--size", "32", "--lstmpm-size", "32", "--frames", "2", "--channels", "8", "--joints", "4"]
    args = [*sizes, "--repeats", "1", "--threads", "1"]
    printed = run_example("retrofit_kmm", *args)
    rows = [line.split() for line in printed.splitlines() if line.startswith(("lstmpm", "dkd", "rpstn"))]
    assert [(r[0], r[1]) for r in rows] == [(m, t) for m in ("lstmpm", "dkd", "rpstn") for t in ("original", "kmm")]
    assert all(float(r[-1]) > 0 for r in rows)

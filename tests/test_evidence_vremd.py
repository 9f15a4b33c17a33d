"""The VREMD evidence experiments run end to end in --quick mode and write their results (a smoke test:
nothing here asserts on what the tiny models learn)."""

import json

import pytest
import torch

from benchmarks.evidence import __main__ as evidence
from benchmarks.evidence import _vremd


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(_vremd, "CACHE", tmp_path / "cache")  # generated clips stay out of the tree
    torch_threads = torch.get_num_threads()
    yield tmp_path
    torch.set_num_threads(torch_threads)


@pytest.mark.parametrize("name", ["corrupted_key_frame", "hkm_masks"])
def test_quick_vremd_experiment_writes_json_markdown_and_plot(cache, name):
    out = cache / "out"
    assert evidence.main([name, "--quick", "--seeds", "0", "--out", str(out)]) == 0
    payload = json.loads((out / f"{name}.json").read_text())
    assert payload["seeds"] == [0] and payload["run"]["command"]
    markdown = (out / f"{name}.md").read_text()
    assert markdown.startswith("# ") and "Command:" in markdown
    assert (out / f"{name}.png").stat().st_size > 0

"""The temporal-module evidence experiments run end to end at their --quick size and write their files.

A smoke test only: --quick trains for two steps, so nothing here asserts on a learning outcome. What
is checked is the bookkeeping the real runs rely on: the files, the pairing, the cache, the metrics
on hand-made predictions.
"""

import json

import pytest
import torch

from benchmarks.evidence import common, hidden_frames, kmm_attention
from benchmarks.evidence.__main__ import main


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEMODS_EVIDENCE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_quick_runs_write_tables_json_and_pictures(tmp_path, cache):
    out = tmp_path / "out"
    assert main(["hidden_frames", "kmm_attention", "--quick", "--seeds", "0", "1", "--out", str(out)]) == 0
    for name in ("hidden_frames", "kmm_attention"):
        payload = json.loads((out / f"{name}.json").read_text())
        assert payload["seeds"] == [0, 1] and payload["run"]["command"].startswith("python -m benchmarks.evidence")
        text = (out / f"{name}.md").read_text()
        assert "Command:" in text and "commit" in text
        assert (out / f"{name}.png").exists()
    table = (out / "hidden_frames.md").read_text()
    assert "| `kmm` |" in table and "Δ hidden, frame 1" in table
    # Every (variant, seed) was trained once and cached; a second run reuses them.
    pairs = sorted(p.name for p in (cache / "pairs").glob("hidden_frames-*.json"))
    assert len(pairs) == 4
    # A result cached before the strict threshold existed is scored again from its saved weights.
    first = cache / "pairs" / pairs[0]
    old = json.loads(first.read_text())
    first.write_text(json.dumps({k: v for k, v in old.items() if not k.endswith("_strict")}))
    assert main(["hidden_frames", "--quick", "--seeds", "0", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in (cache / "pairs").glob("hidden_frames-*.json")) == pairs
    assert json.loads(first.read_text())["scores_strict"] == old["scores_strict"]
    assert "own_hidden_1" in old["scores"]["person"] and "visible_frame_2" in old["scores"]["person"]
    assert "At PCK@0.1" in (out / "hidden_frames.md").read_text()
    assert "What each model keeps" in (out / "hidden_frames.md").read_text()


def test_carrying_over_a_gap_repeats_the_last_shown_value_per_joint():
    joints = torch.arange(1.0, 6.0).reshape(1, 5, 1, 1).expand(1, 5, 2, 2).clone()  # frame t holds t + 1
    hidden = torch.tensor([[False, False], [True, False], [True, True], [False, True], [False, False]])[None]
    carried = hidden_frames.carry_over_gaps(joints, hidden)
    assert carried[0, :, 0, 0].tolist() == [1.0, 1.0, 1.0, 4.0, 5.0]
    assert carried[0, :, 1, 0].tolist() == [1.0, 2.0, 2.0, 2.0, 5.0]


def test_bad_settings_are_named(tmp_path, cache, capsys):
    with pytest.raises(SystemExit):
        main(["hidden_frames", "--quick", "--set", "stepz=3", "--out", str(tmp_path)])
    assert "stepz" in capsys.readouterr().err
    with pytest.raises(ValueError, match="variants"):
        hidden_frames.run({**hidden_frames.QUICK, "variants": ("kmm", "lstm")}, [0], "cpu", tmp_path)
    with pytest.raises(ValueError, match="expected a int"):
        common.parse_settings({"steps": 3}, ["steps=many"])
    assert common.parse_settings({"size": (64, 64), "on": False}, ["size=128,96", "on=true"]) == {
        "size": (128, 96),
        "on": True,
    }
    assert set(kmm_attention.QUICK["variants"]) <= set(kmm_attention.VARIANTS)


def test_scores_count_hidden_joints_by_frame_of_their_gap():
    # One video of 4 frames, 2 joints: joint 0 hidden in frames 2-3 (a gap of two), joint 1 always shown.
    hidden = torch.tensor([[[False, False], [True, False], [True, False], [False, False]]])
    truth = torch.zeros(1, 4, 2, 2, dtype=torch.float64)
    videos = {
        "hidden": hidden,
        "joints_image": truth,
        "visibility": (~hidden).float(),
        "person_size": torch.full((1, 4), 10.0, dtype=torch.float64),
    }
    pred = truth.clone()
    pred[0, 2, 0] = 5.0  # the second hidden frame misses (5 * sqrt(2) > 0.2 * 10)
    pred[0, 3, 1] = 1.0  # a shown joint within 2 px: a hit
    scores = hidden_frames.score(pred, videos, 0.2, 2)
    assert scores["hidden_1"] == 100.0 and scores["hidden_2"] == 0.0 and scores["hidden"] == 50.0
    assert scores["n_visible"] == 4 and scores["visible"] == 100.0  # frames 2..4 of joint 1, frame 4 of joint 0
    assert scores["n_after_gap"] == 1 and scores["after_gap"] == 100.0
    # Frame by frame (counted from 1): frames 2 and 3 show joint 1 only, frame 4 both.
    assert [scores[f"n_visible_frame_{t}"] for t in (2, 3, 4)] == [1, 1, 2]
    assert "visible_frame_1" not in scores
    assert hidden_frames.gap_position(hidden)[0, :, 0].tolist() == [0, 1, 2, 0]
    rows = hidden_frames.reference_rows(videos, {"joints_image": truth}, 0.2, 2)
    assert rows["copy last seen"]["hidden_1"] == 100.0


def test_attention_statistics_tell_identity_uniform_and_collapse_apart():
    joints = 4
    edges = ((0, 1), (1, 2))
    identity = torch.eye(joints)[None]
    uniform = torch.full((1, joints, joints), 1.0 / joints)
    collapsed = torch.zeros(1, joints, joints)
    collapsed[..., 2] = 1.0
    i, u, c = (hidden_frames.attention_stats(a, edges) for a in (identity, uniform, collapsed))
    assert i["diagonal"] == 1.0 and i["entropy"] == pytest.approx(0.0, abs=1e-9) and i["column"] == 0.25
    assert u["diagonal"] == 0.25 and u["entropy"] == pytest.approx(1.0) and u["column"] == pytest.approx(0.25)
    assert c["column"] == 1.0 and c["diagonal"] == 0.25
    assert u["neighbours"] == pytest.approx(u["uniform_neighbours"])
    assert common.paired({0: 1.0, 1: 2.0}, {0: 4.0, 1: 4.0}) == {
        "seeds": [0, 1],
        "diffs": [3.0, 2.0],
        "mean": 2.5,
        "sd": pytest.approx(0.7071, abs=1e-4),
    }


def test_only_the_committed_run_carries_its_written_reading(tmp_path, monkeypatch):
    readings = tmp_path / "readings"
    readings.mkdir()
    (readings / "demo.md").write_text("## Reading\nwhat the committed numbers mean\n")
    monkeypatch.setattr(common, "READINGS", readings)
    defaults = {"steps": 600, "variants": ("none", "kmm")}
    assert common.is_committed_run(dict(defaults), defaults, [0, 1, 2], "cpu")
    assert not common.is_committed_run({"steps": 600, "variants": ("kmm",)}, defaults, [0, 1, 2], "cpu")
    assert not common.is_committed_run({"steps": 60, "variants": ("none", "kmm")}, defaults, [0, 1, 2], "cpu")
    assert not common.is_committed_run(defaults, defaults, [0], "cpu")
    assert not common.is_committed_run(defaults, defaults, [0, 1, 2], "cuda")
    for committed in (True, False):
        _, md = common.write("demo", {}, "# table", tmp_path / str(committed), committed=committed)
        assert ("what the committed numbers mean" in md.read_text()) is committed

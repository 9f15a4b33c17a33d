"""The VREMD evidence experiments run end to end in --quick mode and write their results (a smoke test:
nothing here asserts on what the tiny models learn)."""

import json

import pytest
import torch

from benchmarks.evidence import __main__ as evidence
from benchmarks.evidence import _vremd


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEMODS_EVIDENCE_CACHE", str(tmp_path / "cache"))  # generated clips stay out of the tree
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


def test_diagnostic_switches_change_the_output_and_leave_the_model_as_it_was():
    settings = {"size": (32, 32), "patch": 8, "preset": "tiny", "backbone": ""}
    torch.manual_seed(0)
    model = _vremd.build_vremd("table6:dca+bs", 5, 3, settings).eval()
    for p in model.parameters():  # away from the heads' near-zero initialisation, so every path shows
        p.data.add_(0.05 * torch.randn_like(p))
    video = torch.rand(2, 3, 3, 32, 32)
    with torch.no_grad():
        before = model(video)
        with _vremd.bmd_zeroed(model):
            zeroed = model(video)
            feats = model.backbone(video.flatten(0, 1)).unflatten(0, (2, 3))
            enhanced = model.hkm(feats)[0]
            expected = model.motion_head(
                model.aggregate(torch.cat([feats[:, 1], torch.zeros_like(enhanced)], -1))
                .transpose(1, 2)
                .unflatten(-1, (4, 4))
            ) + model.keypoint_head(model.hkm(feats)[1])
        with _vremd.masks_off(model):
            unmasked = model(video)
            assert model.hkm(model.backbone(video.flatten(0, 1)).unflatten(0, (2, 3))).human_mask.eq(1).all()
        with _vremd.one_head(model, "keypoint"):
            keypoint_only = model(video)
        after = model(video)
    assert torch.allclose(zeroed, expected, atol=1e-5)
    assert torch.allclose(keypoint_only, model.forward_heads(video).keypoint_heatmaps, atol=1e-6)
    for changed in (zeroed, unmasked, keypoint_only):
        assert not torch.allclose(changed, before)
    assert torch.equal(after, before)
    assert model.hkm.human_mask and model.hkm.keypoint_mask
    still = _vremd.key_frame_everywhere({"frames": _vremd.to_uint8(video)})
    assert still.shape == video.shape and torch.equal(still[:, 0], still[:, 2])


def test_human_mask_as_identity_is_the_model_and_sign_changes_it():
    settings = {"size": (32, 32), "patch": 8, "preset": "tiny", "backbone": ""}
    torch.manual_seed(1)
    model = _vremd.build_vremd("hkm+bmd", 5, 3, settings).eval()
    for p in model.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    video = torch.rand(2, 3, 3, 32, 32)
    with torch.no_grad():
        before = model(video)
        with _vremd.human_mask_as(model, lambda mask: mask):
            same = model(video)
        with _vremd.human_mask_as(model, torch.sign):
            signed = model(video)
        after = model(video)
    assert torch.allclose(same, before, atol=1e-6)
    assert not torch.allclose(signed, before)
    assert torch.equal(after, before) and "human_step" not in vars(model.hkm)
    # A positive per-token factor on F_c is invisible to the keypoint tokens after a pre-norm block.
    data = {"frames": _vremd.to_uint8(video)}
    assert _vremd.mask_scale_invariance(model, data, clips=2) < 1e-3

"""VREMD, its ViT backbone and the TokenPose head: Table 4 rows, routing, frozen backbone, checkpoints."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from posemods import BMD, HKM
from posemods.models import (
    VIT_PRESETS,
    VREMD,
    VREMD_TABLE4,
    VREMD_TABLE5,
    VREMD_TABLE6,
    TokenHeatmapHead,
    ViTBackbone,
    count_parameters,
)
from posemods.testing import assert_close

J = 4
IMG = (64, 48)  # a 4 x 3 patch grid and 16 x 12 heatmaps


def tiny(row="hkm+bmd", widen=True, **kwargs):
    """The "micro" ViT (C = 32, 2 blocks), 64 x 48 crops, 2 heads, one ADC block, 8-channel deconvolutions."""
    bmd_kwargs = {"depth": 1, "mlp_ratio": 2.0, "num_points": 2, **kwargs.pop("bmd_kwargs", {})}
    options = {"num_heads": 2, "head_channels": 8, "img_size": IMG, "bmd_kwargs": bmd_kwargs, **kwargs}
    model = VREMD(J, "micro", **VREMD_TABLE4[row], **options)
    return visible(model) if widen else model


def visible(model):
    """Widen H_m's convolutions: SimpleBaseline's std 0.001 start makes every heatmap ~1e-6, under any atol."""
    with torch.no_grad():
        for module in model.motion_head.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, std=0.3)
    return model


def clip(batch=2, seed=0):
    return torch.randn(batch, 3, 3, *IMG, generator=torch.Generator().manual_seed(seed))


def grads_of(module):
    return [p.grad for p in module.parameters() if p.requires_grad]


# --- the backbone -----------------------------------------------------------------------------------


def test_vit_backbone_has_no_class_token_and_the_paper_grid():
    backbone = ViTBackbone("micro")  # 256 x 192, patch 16
    assert backbone.grid == (16, 12) and backbone.vit.cls_token is None and backbone.vit.num_prefix_tokens == 0
    assert backbone.vit.pos_embed.shape == (1, 16 * 12, 32)
    tokens = backbone(torch.rand(2, 3, 256, 192))
    assert tokens.shape == (2, 192, 32)
    assert VIT_PRESETS["large"] == (1024, 24, 16)  # ViT-L, the paper's backbone
    with pytest.raises(ValueError, match=r"image: .*H=256.*H=224"):
        backbone(torch.rand(1, 3, 224, 192))
    with pytest.raises(ValueError, match="img_size: expected multiples of patch_size=16"):
        ViTBackbone("micro", img_size=(250, 192))


def timm_vit(img_size, class_token=True, embed_dim=32, depth=2):
    return VisionTransformer(
        img_size=img_size, patch_size=16, embed_dim=embed_dim, depth=depth, num_heads=2, num_classes=10,
        class_token=class_token, global_pool="token" if class_token else "avg", fc_norm=False,
    )  # fmt: skip


def test_a_224_checkpoint_is_resized_and_its_class_token_dropped(tmp_path):
    source = timm_vit(224)  # a 14 x 14 grid plus a class token, and a classifier
    with torch.no_grad():
        source.pos_embed[:, 0].fill_(1e6)  # the class token's position must not leak into the patches
    path = tmp_path / "vit224.pth"
    torch.save({"model": source.state_dict()}, path)
    backbone = ViTBackbone("micro", checkpoint=path)
    ours, theirs = backbone.vit.state_dict(), source.state_dict()
    for key in ours:
        if key != "pos_embed":
            assert torch.equal(ours[key], theirs[key]), key
    grid = theirs["pos_embed"][:, 1:].reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(16, 12), mode="bicubic", antialias=True, align_corners=False)
    assert torch.allclose(ours["pos_embed"], expected.flatten(2).transpose(1, 2), atol=1e-6)
    assert ours["pos_embed"].abs().max() < 10


def test_a_checkpoint_at_the_model_grid_loads_exactly(tmp_path):
    source = timm_vit((256, 192), class_token=False)
    path = tmp_path / "vit256x192.pth"
    torch.save(source.state_dict(), path)
    backbone = ViTBackbone("micro", checkpoint=path)
    assert torch.equal(backbone.vit.pos_embed, source.pos_embed)
    image = torch.rand(1, 3, 256, 192)
    # The backbone normalises [0, 1] images with ImageNet's statistics before the ViT sees them.
    assert torch.equal(backbone.eval()(image), source.eval().forward_features(backbone.normalize(image)))


def test_checkpoints_that_do_not_fit_are_refused(tmp_path):
    path = tmp_path / "wide.pth"
    torch.save(timm_vit(224, embed_dim=64).state_dict(), path)
    with pytest.raises(ValueError, match="does not fit ViT preset 'micro'"):
        ViTBackbone("micro", checkpoint=path)
    odd = timm_vit(224).state_dict()
    odd["pos_embed"] = odd["pos_embed"][:, :-3]  # 193 patch positions: no grid
    torch.save(odd, path)
    with pytest.raises(ValueError, match="pos_embed has 193 patch positions"):
        ViTBackbone("micro", checkpoint=path)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        ViTBackbone("micro", checkpoint=tmp_path / "missing.pth")


# --- the TokenPose head -----------------------------------------------------------------------------


def test_token_head_maps_each_token_to_its_own_heatmap():
    head = TokenHeatmapHead(16, (8, 6), hidden_dim=12)
    tokens = torch.randn(2, J, 16)
    heatmaps = head(tokens)
    assert heatmaps.shape == (2, J, 8, 6)
    moved = tokens.clone()
    moved[:, 1] += 1.0
    changed = (head(moved) != heatmaps).flatten(2).any(-1)
    assert changed[:, 1].all() and not changed[:, [0, 2, 3]].any()
    mlp = head.mlp
    expected = mlp[3](mlp[2](mlp[1](mlp[0](tokens[0, 2])))).view(8, 6)
    assert torch.allclose(heatmaps[0, 2], expected)
    assert TokenHeatmapHead(32).mlp[1].out_features == 64 * 48 // 8  # TokenPose's hidden width


# --- VREMD ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", list(VREMD_TABLE4))
def test_every_table4_row_trains_and_routes(row):
    torch.manual_seed(0)
    model = tiny(row)
    assert (model.hkm is not None, model.bmd is not None) == (VREMD_TABLE4[row]["hkm"], VREMD_TABLE4[row]["bmd"])
    out = model.forward_heads(clip())
    assert out.heatmaps.shape == out.motion_heatmaps.shape == (2, J, 16, 12)
    if model.hkm is not None:
        assert torch.equal(out.heatmaps, out.keypoint_heatmaps + out.motion_heatmaps)  # H = H_k + H_m
    else:
        assert out.keypoint_heatmaps is None and model.keypoint_head is None
        assert torch.equal(out.heatmaps, out.motion_heatmaps)
    out.heatmaps.square().mean().backward()
    assert all(p.grad is None for p in model.backbone.parameters())  # frozen, as in the paper
    for part in ("hkm", "bmd", "keypoint_head", "aggregate", "motion_head"):
        module = getattr(model, part)
        if module is not None:  # every trainable part is on the path to the heatmaps
            grads = grads_of(module)
            assert grads and all(g is not None for g in grads), part
            assert sum(g.abs().sum() for g in grads) > 0, part


def test_baseline_is_vitpose_on_the_key_frame_alone():
    model = tiny("baseline").eval()
    video = clip()
    tokens = model.backbone(video[:, 1])  # (B, L, C)
    expected = model.motion_head(tokens.transpose(1, 2).reshape(2, 32, 4, 3))
    assert torch.equal(model(video), expected)
    other = video.clone()
    other[:, [0, 2]] = torch.randn_like(other[:, [0, 2]])
    assert torch.equal(model(other), expected)  # the neighbouring frames are never read
    assert model.aggregate is None and model.hkm is None and model.bmd is None


@pytest.mark.parametrize("row", ["bmd", "hkm+bmd"])
def test_bmd_is_constrained_by_hkm_or_else_by_the_key_frame(row):
    model = tiny(row).eval()
    video = clip()
    seen = {}
    model.bmd.register_forward_hook(lambda module, args, out: seen.update(args=args, out=out))
    heatmaps = model(video)
    feats = model.backbone(video.flatten(0, 1)).unflatten(0, (2, 3))
    assert torch.equal(seen["args"][0], feats)
    constraint = feats[:, 1] if model.hkm is None else model.hkm(feats).features
    assert torch.equal(seen["args"][1], constraint)
    # H_m decodes the aggregate of the key frame's features and M.
    mixed = model.aggregate(torch.cat([feats[:, 1], seen["out"]], dim=-1))
    motion = model.motion_head(mixed.transpose(1, 2).reshape(2, 32, 4, 3))
    expected = motion if model.hkm is None else motion + model.keypoint_head(model.hkm(feats).keypoint_tokens)
    assert_close(heatmaps, expected, name="heatmaps")


def test_hkm_without_bmd_feeds_its_enhanced_feature_to_the_motion_head():
    model = tiny("hkm").eval()
    video = clip()
    feats = model.backbone(video.flatten(0, 1)).unflatten(0, (2, 3))
    enhanced, tokens = model.hkm(feats)[:2]
    mixed = model.aggregate(torch.cat([feats[:, 1], enhanced], dim=-1))
    motion = model.motion_head(mixed.transpose(1, 2).reshape(2, 32, 4, 3))
    out = model.forward_heads(video)
    assert_close(out.motion_heatmaps, motion, name="H_m")
    assert_close(out.keypoint_heatmaps, model.keypoint_head(tokens), name="H_k")


@pytest.mark.parametrize("row", list(VREMD_TABLE5))
def test_table5_rows_keep_the_keypoint_head(row):
    # Table 5 switches HKM's masks only: H_k, and H = H_k + H_m, stay in every row, and every row
    # has the same parameters as VREMD itself.
    torch.manual_seed(0)
    full = tiny()
    model = tiny(hkm_kwargs=VREMD_TABLE5[row]).eval()
    model.load_state_dict(full.state_dict())
    assert isinstance(model.keypoint_head, TokenHeatmapHead)
    assert {k: bool(v) for k, v in VREMD_TABLE5[row].items()} == {
        "human_mask": model.hkm.human_mask,
        "keypoint_mask": model.hkm.keypoint_mask,
    }
    out = model.forward_heads(clip())
    assert out.keypoint_heatmaps is not None
    assert_close(out.heatmaps, out.keypoint_heatmaps + out.motion_heatmaps)


def test_table5_rows_differ_only_in_the_masks():
    assert set(VREMD_TABLE5) == {"none", "human", "keypoint", "human+keypoint"}
    assert all(set(flags) == {"human_mask", "keypoint_mask"} for flags in VREMD_TABLE5.values())
    assert {tuple(flags.values()) for flags in VREMD_TABLE5.values()} == {(a, b) for a in (0, 1) for b in (0, 1)}


@pytest.mark.parametrize("row", list(VREMD_TABLE6))
def test_table6_rows_build_the_paper_operator(row):
    from posemods.modules import CrossAttention, DeformableConvMotion, DeformableCrossAttention

    model = tiny(bmd_kwargs=VREMD_TABLE6[row]).eval()
    kinds = {type(block.deform) for stream in model.bmd.streams for block in stream.blocks}
    assert kinds == {DeformableConvMotion if row == "dc" else DeformableCrossAttention}
    has_cross = any(isinstance(m, CrossAttention) for m in model.bmd.modules())
    assert has_cross == row.startswith("dca") and model.bmd.bidirectional == (row == "dca+bs")
    assert model(clip(batch=1)).shape == (1, J, 16, 12)


def test_registry_reads_the_same_vremd_tables():
    from posemods.models import MODELS

    # One source: the registry's rows are built from the tables the models export, not a copy that can drift.
    variants = MODELS["vremd"].variants
    assert {row: variants[f"table4:{row}"] for row in VREMD_TABLE4} == VREMD_TABLE4
    assert {row: variants[f"table6:{row}"]["bmd_kwargs"] for row in VREMD_TABLE6} == VREMD_TABLE6
    assert {row: variants[f"table5:{row}"]["hkm_kwargs"] for row in VREMD_TABLE5} == VREMD_TABLE5


def test_module_options_pass_through():
    model = tiny(bmd_kwargs={"operator": "dc", "bidirectional": False}, hkm_kwargs={"human_mask": False})
    assert isinstance(model.bmd, BMD) and not model.bmd.bidirectional and model.bmd.operator == "dc"
    assert isinstance(model.hkm, HKM) and not model.hkm.human_mask
    assert model(clip()).shape == (2, J, 16, 12)


def test_unfrozen_backbone_trains_and_frozen_one_stays_in_eval_mode():
    frozen = tiny().train()
    assert not frozen.backbone.training and frozen.hkm.training
    assert not any(p.requires_grad for p in frozen.backbone.parameters())
    free = tiny(freeze_backbone=False).train()
    assert free.backbone.training
    free(clip()).square().mean().backward()
    assert all(p.grad is not None for p in free.backbone.parameters())


def test_parameter_counts_add_up_over_the_rows():
    counts = {row: count_parameters(tiny(row)) for row in VREMD_TABLE4}
    base = counts["baseline"]["total"]
    assert base == counts["baseline"]["backbone"] + counts["baseline"]["motion_head"]
    for row in ("hkm", "bmd", "hkm+bmd"):
        c = counts[row]
        extra = c.get("hkm", 0) + c.get("bmd", 0) + c.get("keypoint_head", 0) + c["aggregate"]
        assert c["total"] == base + extra, row
    assert counts["hkm+bmd"]["total"] == counts["hkm"]["total"] + counts["bmd"]["bmd"]


def test_whole_model_checkpoint_round_trip(tmp_path):
    model = tiny().eval()
    path = tmp_path / "vremd.pth"
    torch.save(model.state_dict(), path)
    again = tiny(widen=False, checkpoint=path).eval()
    video = clip(batch=1)
    assert torch.equal(again(video), model(video))


def test_input_errors():
    model = tiny()
    with pytest.raises(ValueError, match=r"video: .*T=3.*T=5"):
        model(torch.randn(1, 5, 3, *IMG))
    with pytest.raises(ValueError, match=r"video: .*H=64.*H=256"):
        model(torch.randn(1, 3, 3, 256, 192))
    with pytest.raises(TypeError, match="video: expected a floating-point"):
        model(torch.ones(1, 3, 3, *IMG, dtype=torch.uint8))
    with pytest.raises(ValueError, match="num_frames: expected an odd T"):
        tiny(num_frames=4)
    with pytest.raises(ValueError, match="preset: expected one of"):
        VREMD(J, "gigantic")
    with pytest.raises(ValueError, match=r"hkm_kwargs: \['num_frames'\] are set by VREMD"):
        tiny(hkm_kwargs={"num_frames": 5})
    with pytest.raises(ValueError, match=r"bmd_kwargs: \['dim'\] are set by VREMD"):
        tiny(bmd_kwargs={"dim": 16})


def test_video_dtype_and_device_are_checked_against_the_model():
    model = tiny(widen=False)
    with pytest.raises(TypeError, match=r"video: dtype torch.float64 but ViTBackbone's parameters are torch.float32"):
        model(clip(batch=1).double())
    with pytest.raises(ValueError, match=r"video: on device cpu but VREMD's parameters are on meta"):
        model.to("meta")(clip(batch=1))


def test_nan_in_one_clip_stays_in_that_clip():
    model = tiny().eval()
    video = clip()
    video[1, 0, 0, 5, 5] = float("nan")
    heatmaps = model(video)
    assert heatmaps[1].isnan().any() and not heatmaps[0].isnan().any()


@pytest.mark.slow
@pytest.mark.parametrize("row", list(VREMD_TABLE4))
def test_paper_size_builds_and_counts(row):
    model = VREMD(17, "large", **VREMD_TABLE4[row])
    counts = count_parameters(model)
    assert 303e6 < counts["backbone"] < 305e6, counts  # ViT-L/16 without class token or classifier
    print(row, {k: round(v / 1e6, 3) for k, v in counts.items()})


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["reference", "triton"])
def test_whole_model_compiles_without_graph_breaks(backend):
    torch._dynamo.reset()
    model = tiny(backend=backend).eval()
    video = clip(batch=1)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    assert_close(compiled(video), model(video))


def test_ablation_example_runs():
    root = Path(__file__).resolve().parents[2]
    args = ["--preset", "micro", "--img-size", "64", "48", "--joints", "4", "--repeats", "1", "--threads", "1"]
    proc = subprocess.run(
        [sys.executable, "examples/vremd_ablation.py", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.split() and line.split()[0] in VREMD_TABLE4]
    assert [r[0] for r in rows] == list(VREMD_TABLE4)
    totals = [float(r[1]) for r in rows]
    assert totals[0] < totals[1] < totals[3] and totals[0] < totals[2] < totals[3]
    assert all(float(r[-1]) > 0 for r in rows)


# --- any timm ViT (issue 14) ------------------------------------------------------------------------

TINY_VIT = {"embed_dim": 32, "depth": 1, "num_heads": 2}


def test_backbone_by_timm_name():
    model = VREMD(J, "vit_tiny_patch16_224", img_size=IMG, num_heads=2, head_channels=8,
                  bmd_kwargs={"depth": 1, "num_points": 2}, backbone_kwargs=TINY_VIT)  # fmt: skip
    assert model.backbone.vit.num_prefix_tokens == 1 and model.backbone.grid == (4, 3)
    assert model.backbone.normalize.mean.flatten().tolist() == [0.5, 0.5, 0.5]  # its pretrained_cfg's
    assert model(clip(batch=1)).shape == (1, J, 16, 12)


def test_a_timm_vit_output_with_prefix_tokens_plugs_into_hkm_and_bmd():
    # forward_features of a ViT with a cls and 4 register tokens goes in as it is; the prefix comes out
    # unchanged and the grid tokens get what they get without it.
    import timm

    vit = timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, img_size=(56, 42), **TINY_VIT)
    prefix = vit.num_prefix_tokens
    with torch.no_grad():
        tokens = vit.forward_features(torch.rand(3, 3, 56, 42)).unsqueeze(0)  # (1, T, P + 12, C)
    torch.manual_seed(0)
    hkm = HKM(32, J, num_heads=2, num_prefix_tokens=prefix).eval()
    bmd = BMD(32, num_heads=2, num_points=2, depth=1, num_prefix_tokens=prefix).eval()
    plain_hkm, plain_bmd = HKM(32, J, num_heads=2).eval(), BMD(32, num_heads=2, num_points=2, depth=1).eval()
    plain_hkm.load_state_dict(hkm.state_dict())
    plain_bmd.load_state_dict(bmd.state_dict())
    enhanced = hkm(tokens, hw=(4, 3)).features
    motion = bmd(tokens, enhanced, (4, 3))
    assert enhanced.shape == motion.shape == (1, prefix + 12, 32)
    assert torch.equal(motion[:, :prefix], tokens[:, 1, :prefix])
    grid = tokens[:, :, prefix:]
    expected = plain_hkm(grid).features
    assert_close(enhanced[:, prefix:], expected)
    assert_close(motion[:, prefix:], plain_bmd(grid, expected, (4, 3)))

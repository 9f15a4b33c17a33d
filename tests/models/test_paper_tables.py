"""Every row of KIMNet's Tables 2, 4-7 and VREMD's Tables 4-6 is one ``--variant`` that builds what the paper says.

The expected row names and what each row must contain are written from the papers' text
(/work/shared/papers/kimnet.txt, vremd.txt), not read from :mod:`posemods.variants`.
"""

from pathlib import Path

import pytest
import torch

from posemods import KMM
from posemods.models import (
    JRPSP,
    KIMNET_TABLE2,
    KIMNET_TABLE4,
    KIMNET_TABLE5,
    KIMNET_TABLE6,
    KIMNET_TABLE7,
    MODELS,
    PAPER_TABLES,
    VREMD_TABLE4,
    VREMD_TABLE5,
    VREMD_TABLE6,
    ConvLSTMCell,
    PoseKernelDistillator,
)
from posemods.train import parse_config

J = 4

# The papers' rows, in the papers' order (KIMNet's "Hourglass" row has no implementation to reuse).
PAPER_ROWS = {
    ("kimnet", "table4"): ["baseline", "predicted", "dkd", "jrpsp", "kimnet"],
    ("kimnet", "table5"): ["share-hc", "residual", "heatmap", "kimnet"],
    ("kimnet", "table6"): ["kimnet-8", "kimnet-16", "kimnet-32", "kimnet-64"],
    ("kimnet", "table7"): ["res18", "res34", "hrnet", "res50"],
    ("lstmpm", "table2"): ["lstmpm", "lstmpm-kmm"],
    ("dkd", "table2"): ["dkd", "dkd-kmm"],
    ("rpstn", "table2"): ["rpstn", "rpstn-kmm"],
    ("vremd", "table4"): ["baseline", "hkm", "bmd", "hkm+bmd"],
    ("vremd", "table5"): ["none", "human", "keypoint", "human+keypoint"],
    ("vremd", "table6"): ["dc", "da", "dca", "dca+bs"],
}
CLI_ROWS = [(model, f"{table}:{row}") for (model, table), rows in PAPER_ROWS.items() for row in rows]


def test_every_paper_row_is_a_cli_variant_of_its_model():
    assert {(model, table) for model, tables in PAPER_TABLES.items() for table in tables} == set(PAPER_ROWS)
    for (model, table), rows in PAPER_ROWS.items():
        assert list(PAPER_TABLES[model][table]) == rows, (model, table)
        for row in rows:
            assert MODELS[model].variants[f"{table}:{row}"] == PAPER_TABLES[model][table][row]
    assert [list(t) for t in (KIMNET_TABLE4, KIMNET_TABLE5, KIMNET_TABLE6, KIMNET_TABLE7)] == [
        PAPER_ROWS["kimnet", f"table{n}"] for n in (4, 5, 6, 7)
    ]
    assert [list(t) for t in (VREMD_TABLE4, VREMD_TABLE5, VREMD_TABLE6)] == [
        PAPER_ROWS["vremd", f"table{n}"] for n in (4, 5, 6)
    ]
    assert list(KIMNET_TABLE2) == [row for m in ("lstmpm", "dkd", "rpstn") for row in PAPER_ROWS[m, "table2"]]
    # The bare names of old stay: scripts and checkpoints name them.
    assert {"kmm", "none", "predicted", "jrpsp", "dkd", "heatmap"} <= set(MODELS["kimnet"].variants)
    assert set(VREMD_TABLE4) <= set(MODELS["vremd"].variants) and MODELS["vremd"].default_variant == "hkm+bmd"


def test_the_readme_lists_every_row_with_its_model():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### The papers' tables")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| `")]
    for model, variant in CLI_ROWS:
        assert any(line.startswith(f"| `{model}` ") and f"`{variant}`" in line for line in lines), (model, variant)


@pytest.mark.parametrize("model, variant", CLI_ROWS)
def test_the_cli_accepts_every_row(model, variant):
    config = parse_config(["--model", model, "--variant", variant])
    assert (config.model, config.variant) == (model, variant)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "vremd", "--variant", "table6:xx"], "invalid choice: 'table6:xx'"),
        (["--model", "kimnet", "--variant", "table6:da"], "'table6:da' is not a variant of kimnet"),
        (["--model", "vremd", "--variant", "table7:res18"], "'table7:res18' is not a variant of vremd"),
        (["--model", "rpstn", "--variant", "table2:dkd-kmm"], "'table2:dkd-kmm' is not a variant of rpstn"),
    ],
)
def test_a_wrong_row_exits_2_with_the_usage_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_config(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: python -m posemods.train") and message in err


def _kimnet(variant):
    with torch.device("meta"):  # structure only: no weights are computed
        return MODELS["kimnet"].create(J, variant, "tiny")


def _kmm_and_correction(model):
    assert type(model.temporal) is KMM
    return model.temporal, (model.correction.prior_channels, model.correction.feature_channels)


@pytest.mark.parametrize("row", PAPER_ROWS["kimnet", "table4"])
def test_kimnet_table4_rows(row):
    model = _kimnet(f"table4:{row}")
    C = model.channels
    if row == "baseline":  # "we first remove the temporal modeling module": f_t alone gives m_t
        assert model.temporal is None and model.correction.prior_channels == 0
        assert model.correction.feature_channels == C
    elif row == "predicted":  # "we remove the features for frame t + 1 (i.e., F(I_{t+1}) in eq. 2"
        assert _kmm_and_correction(model)[1] == (J, 0)
    else:  # "we successively replace the KMM in KIMNet with DKD and JRPSP"; the correction stays
        expected = {"dkd": PoseKernelDistillator, "jrpsp": JRPSP, "kimnet": KMM}[row]
        assert type(model.temporal) is expected
        assert (model.correction.prior_channels, model.correction.feature_channels) == (J, C)
    assert model.decoder is not None


@pytest.mark.parametrize("row", PAPER_ROWS["kimnet", "table5"])
def test_kimnet_table5_rows(row):
    model = _kimnet(f"table5:{row}")
    kmm, correction = _kmm_and_correction(model)
    assert correction == (J, model.channels)
    # "two 1x1 convolutions whose weights are shared": Conv_h and Conv_c are one module.
    assert (kmm.proj_prev is kmm.proj_cur) == (row == "share-hc")
    assert kmm.residual == (row == "residual")  # "We introduce the residual, i.e., heatmaps in frame t"
    # "We adopt heatmaps in two frames": KMM's inputs are J heatmaps, not C features.
    assert model.heatmap_inputs == (row == "heatmap")
    assert kmm.in_channels == (J if row == "heatmap" else model.channels)
    assert kmm.resolution is None


@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_kimnet_table6_rows_run_kmm_at_s_by_s(size):
    # ""KIMNet-S" represents the size of KMM's input is S x S"
    kmm, correction = _kmm_and_correction(_kimnet(f"table6:kimnet-{size}"))
    assert kmm.resolution == size and not kmm.residual and correction[0] == J


def test_kimnet_table6_row_reaches_kmm_in_a_real_forward():
    torch.manual_seed(0)
    model = MODELS["kimnet"].create(J, "table6:kimnet-8", "tiny").eval()
    seen = []
    model.temporal.proj_cur.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[-2:])))
    attended = []
    original = torch.nn.functional.interpolate

    def spy(t, *args, **kwargs):
        attended.append(kwargs.get("size"))
        return original(t, *args, **kwargs)

    with torch.no_grad(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.nn.functional, "interpolate", spy)
        out = model(torch.rand(1, 2, 3, 64, 64))
    assert out.shape == (1, 2, J, 16, 16) and seen == [(16, 16)]  # the features at H / 4
    assert (8, 8) in attended  # and KMM's inputs resized to 8 x 8


@pytest.mark.parametrize(
    "row, name", [("res18", "resnet18"), ("res34", "resnet34"), ("hrnet", "hrnet_w32"), ("res50", "resnet50")]
)
def test_kimnet_table7_rows_change_the_encoder_only(row, name):
    # "SimpleBaseline [15] with different structures (ResNet-18, ResNet-34, and ResNet-50), ..., and
    # HRNet [16] as the feature encoder": the row wins over the preset's encoder, the initializer stays.
    model = _kimnet(f"table7:{row}")
    assert model.encoder.backbone.name == name
    assert model.encoder.backbone.reduction == (4 if row == "hrnet" else 32)
    assert model.initializer.backbone.name == MODELS["kimnet"].presets["tiny"]["initializer_backbone"]
    assert type(model.temporal) is KMM and model.channels == MODELS["kimnet"].presets["tiny"]["channels"]


@pytest.mark.parametrize("model_name", ["lstmpm", "dkd", "rpstn"])
def test_kimnet_table2_rows_swap_the_temporal_block_for_kmm(model_name):
    # "we replace the temporal modeling modules in raw backbones with the KMM"
    spec = MODELS[model_name]
    for row in PAPER_ROWS[model_name, "table2"]:
        with torch.device("meta"):
            model = spec.create(J, f"table2:{row}", "tiny")
        kinds = {type(m) for m in model.modules()}
        # RPSTN's own block is the authors' kernel distillation (dkd_net.py), guided by its shared decoder.
        own = {"lstmpm": ConvLSTMCell, "dkd": PoseKernelDistillator, "rpstn": PoseKernelDistillator}[model_name]
        # The original block is gone where KMM is in, and KMM is absent from the original.
        assert ((KMM in kinds), (own in kinds)) == ((True, False) if row.endswith("-kmm") else (False, True)), row
        assert model.mode == ("kmm" if row.endswith("-kmm") else "original")


def _vremd(variant):
    torch.manual_seed(0)
    return MODELS["vremd"].create(J, variant, "tiny", input_size=(64, 48), clip_length=3).eval()


@pytest.mark.parametrize("row", PAPER_ROWS["vremd", "table4"])
def test_vremd_table4_rows(row):
    # "(a) Integrating ... HKME into the baseline", "(b) ... exclusively incorporate ... BMD", "(c) ... both"
    model = _vremd(f"table4:{row}")
    assert (model.hkm is not None, model.bmd is not None) == ("hkm" in row, "bmd" in row)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 3, 64, 48)).shape == (1, J, 16, 12)


@pytest.mark.parametrize("row", PAPER_ROWS["vremd", "table5"])
def test_vremd_table5_rows_switch_the_masks_only(row):
    # "(b) Producing a human mask", "(c) Calculating a keypoint mask", "(d) Utilizing dual masks"
    model = _vremd(f"table5:{row}")
    assert model.hkm is not None and model.bmd is not None and model.keypoint_head is not None
    assert (model.hkm.human_mask, model.hkm.keypoint_mask) == ("human" in row, "keypoint" in row)
    assert model.bmd.operator == "dca" and model.bmd.bidirectional


@pytest.mark.parametrize("row", PAPER_ROWS["vremd", "table6"])
def test_vremd_table6_rows_pick_the_operator_and_bs(row):
    # "(a) ... deformable conv (DC)", "(b) ... plain deformable attention (DA)", "(c) ... our ADC",
    # "(d) ... bidirectional separation (BS)"; all inside the full model with HKM.
    model = _vremd(f"table6:{row}")
    assert model.hkm is not None and (model.hkm.human_mask, model.hkm.keypoint_mask) == (True, True)
    assert model.bmd.operator == row.split("+")[0] and model.bmd.bidirectional == (row == "dca+bs")
    with torch.no_grad():
        assert model(torch.rand(1, 3, 3, 64, 48)).shape == (1, J, 16, 12)


def test_rows_are_fresh_copies_so_a_model_cannot_edit_the_table():
    spec = MODELS["kimnet"]
    spec.variants["table5:share-hc"]["temporal_kwargs"]["shared_projection"] = False
    try:
        assert KIMNET_TABLE5["share-hc"]["temporal_kwargs"]["shared_projection"] is True
    finally:
        spec.variants["table5:share-hc"]["temporal_kwargs"]["shared_projection"] = True


def test_kimnet_table4_baseline_frames_are_independent():
    # "We first remove the temporal modeling module": a later frame's heatmaps come from that frame alone
    # (no gradient path to earlier frames), while KIMNet's carry the earlier frames through m_{t-1}.
    torch.manual_seed(0)
    for variant, independent in (("table4:baseline", True), ("table4:kimnet", False)):
        model = MODELS["kimnet"].create(J, variant, "tiny").eval()
        video = torch.rand(1, 3, 3, 32, 32, requires_grad=True)
        model(video)[:, 2].sum().backward()
        earlier = video.grad[:, :2].abs().sum().item()
        assert (earlier == 0.0) == independent and video.grad[:, 2].abs().sum() > 0, variant


def test_cli_variants_names_a_wrong_model():
    from posemods.variants import cli_variants

    with pytest.raises(ValueError, match=r"model: expected one of kimnet, rpstn, dkd, lstmpm, vremd, got 'hrnet'"):
        cli_variants("hrnet")

"""Property-based tests over the public API: every input gets a clear error or a correct result.

The one rule (issue 15): whatever a caller passes, posemods either raises a ``ValueError`` or
``TypeError`` whose message names the argument (or the file) at fault, or returns a result that is
right: the documented shape, NaN out where NaN went in, finite out where everything was finite.
Anything else (another exception type, an error naming nothing, a bad value silently accepted, a
crash) is a bug. Hypothesis draws the inputs from pools of bad and edge values (zero, negative, NaN,
inf, strings, None, bools, numpy scalars, empty batches, mismatched shapes, damaged files).

Validity comes from the contract's predicates in posemods._shapes: a width is a positive integer (a
numpy integer too, ``is_positive_int``), a ratio or sigma a positive finite real (``is_positive_real``),
a size two positive integers (``is_size``). They are written once there, so these tests and the fuzz
harness (python -m tests.fuzz) apply one rule, and tests/test_shapes.py holds the predicates to literal
tables written from the contract; the tests here check that every entry point applies them. Runs
derandomized, so the suite is deterministic; the whole file takes well under a minute.
"""

from __future__ import annotations

import functools
import json
import math
import numbers

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import posemods
from posemods import functional
from posemods._shapes import is_positive_int, is_positive_real, is_size  # the contract, written once

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Pools of values a careless caller passes where a size or count belongs.
WEIRD_INTS = st.sampled_from(
    [1, 2, 3, 4, 0, -1, -8, np.int64(2), np.int32(4), 2.0, 2.5, math.nan, "4", None, True, False, 1 + 0j]
)
WEIRD_REALS = st.sampled_from(
    [4.0, 2, 0.5, 1e-3, np.float32(2.0), np.float64(1.5), 0.0, -1.0, math.nan, math.inf, -math.inf, "4", None,
     True, 1 + 0j, torch.tensor(2.0)]
)  # fmt: skip


def clear_error_or(call, names, valid: bool | None = None):
    """Run ``call``: return its result, or None after a clear error naming one of ``names``.

    ``valid=False`` (an input the contract forbids) must end in a clear error; ``valid=True`` may
    still get one (e.g. a legal size too small for a model), never any other exception.
    """
    try:
        out = call()
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(name in message for name in names), (
            f"cryptic {type(error).__name__} (names none of {names}): {message}"
        )
        return None
    assert valid is not False, f"silently accepted an invalid input for {names}"
    return out


def check_output(out: torch.Tensor, shape, nan_in: bool) -> None:
    assert tuple(out.shape) == tuple(shape), f"shape {tuple(out.shape)}, expected {tuple(shape)}"
    if out.numel() == 0:
        return
    if nan_in:
        assert out.isnan().any(), "NaN went in, no NaN came out"
    else:
        assert out.isfinite().all(), "finite inputs gave a non-finite output"


# --- modules -----------------------------------------------------------------------------------------


@SETTINGS
@given(in_channels=WEIRD_INTS, num_joints=WEIRD_INTS, batch=st.sampled_from([1, 2]), nan=st.booleans(),
       hw=st.sampled_from([(1, 1), (2, 3), (4, 4)]))  # fmt: skip
def test_kmm_hyperparameters_and_inputs(in_channels, num_joints, batch, nan, hw):
    valid = is_positive_int(in_channels) and is_positive_int(num_joints)
    module = clear_error_or(
        lambda: posemods.KMM(in_channels, num_joints, backend="reference"), ["in_channels", "num_joints"], valid
    )
    if module is None:
        return
    c, j = int(in_channels), int(num_joints)
    feats = torch.randn(2, batch, c, *hw)
    heatmaps = torch.rand(batch, j, 2 * hw[0], 2 * hw[1])
    if nan:
        heatmaps[0, 0, 0, 0] = math.nan
    check_output(module(feats[0], feats[1], heatmaps), heatmaps.shape, nan)


@SETTINGS
@given(channels=st.sampled_from([1, 4]), joints=st.sampled_from([1, 3]))
def test_kmm_on_an_empty_batch_gives_an_empty_result(channels, joints):
    module = posemods.KMM(channels, joints, backend="reference")
    empty = torch.zeros(0, channels, 4, 4)
    out = clear_error_or(lambda: module(empty, empty, torch.zeros(0, joints, 4, 4)), ["B", "batch"], valid=True)
    assert out is not None, "B = 0 must give an empty result, not an error"
    check_output(out, (0, joints, 4, 4), nan_in=False)


@SETTINGS
@given(dtype=st.sampled_from([torch.float64, torch.float16, torch.int64]), which=st.integers(0, 2))
def test_kmm_inputs_of_another_dtype_than_its_weights(dtype, which):
    module = posemods.KMM(4, 3, backend="reference")
    inputs = [torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3), torch.rand(1, 3, 6, 6)]
    inputs[which] = inputs[which].to(dtype)  # the heatmaps (which = 2) may be cast: KMM documents no dtype
    names = ["feat_prev", "feat_cur", "heatmap_prev", "dtype"]
    clear_error_or(lambda: module(*inputs), names, None if which == 2 else False)


@SETTINGS
@given(dim=WEIRD_INTS, num_heads=WEIRD_INTS, num_points=WEIRD_INTS, nan=st.booleans(),
       operator=st.sampled_from(["dca", "da", "bogus"]))  # fmt: skip
def test_dca_hyperparameters_and_inputs(dim, num_heads, num_points, nan, operator):
    valid = all(map(is_positive_int, (dim, num_heads, num_points))) and operator != "bogus"
    names = ["dim", "num_heads", "num_points", "operator"]
    module = clear_error_or(
        lambda: posemods.DCA(dim, num_heads, num_points, operator=operator, backend="reference"), names, valid
    )
    if module is None:
        return
    x = torch.randn(1, 6, int(dim))
    if nan:
        x[0, 2, 0] = math.nan
    out = clear_error_or(lambda: module(x, torch.randn(1, 6, int(dim)), hw=(2, 3)), ["x", "hw"], valid=True)
    if out is not None:
        check_output(out, x.shape, nan)


@SETTINGS
@given(dim=WEIRD_INTS, num_heads=WEIRD_INTS, context_dim=st.one_of(st.none(), WEIRD_INTS))
def test_cross_attention_hyperparameters(dim, num_heads, context_dim):
    valid = (
        is_positive_int(dim) and is_positive_int(num_heads) and (context_dim is None or is_positive_int(context_dim))
    )
    module = clear_error_or(
        lambda: posemods.CrossAttention(dim, num_heads, context_dim), ["dim", "num_heads", "context_dim"], valid
    )
    if module is None:
        return
    cz = int(dim) if context_dim is None else int(context_dim)
    check_output(module(torch.randn(2, 3, int(dim)), torch.randn(2, 5, cz)), (2, 3, int(dim)), nan_in=False)


@SETTINGS
@given(row=st.integers(0, 2))
def test_cross_attention_nan_in_a_query_row_gives_nan_out(row):
    module = posemods.CrossAttention(8, 2)
    x = torch.randn(1, 3, 8)
    x[0, row, 0] = math.nan
    out = module(x, torch.randn(1, 4, 8))
    assert out[0, row].isnan().any(), "NaN in a query row must give NaN in that row's output"


@settings(SETTINGS, max_examples=6)  # each build takes about half a second
@given(mlp_ratio=WEIRD_REALS, which=st.sampled_from(["hkm", "bmd"]))
def test_hkm_and_bmd_mlp_ratio(mlp_ratio, which):
    # dim 4: were a string ratio repeated (dim * '4'), the hidden width stays small (4444), not gigabytes.
    dim = 4
    valid = is_positive_real(mlp_ratio)
    if isinstance(mlp_ratio, torch.Tensor) or (valid and int(dim * float(mlp_ratio)) < 1):
        valid = None  # a 0-d tensor, or a ratio so small the hidden layer has no units: either answer
    if which == "hkm":
        build = lambda: posemods.HKM(dim, 2, num_heads=2, mlp_ratio=mlp_ratio, backend="reference")
    else:
        build = lambda: posemods.BMD(dim, num_heads=2, num_points=2, mlp_ratio=mlp_ratio, backend="reference")
    module = clear_error_or(build, ["mlp_ratio"], valid)
    if module is None:
        return
    feats = torch.randn(1, 3, 4, dim)
    out = module(feats, hw=(2, 2)).features if which == "hkm" else module(feats, feats[:, 1], hw=(2, 2))
    check_output(out, (1, 4, dim), nan_in=False)


@functools.cache
def _tiny_model(name: str):
    from posemods.models import get_model_spec

    spec = get_model_spec(name)
    return spec.create(13, None, "tiny", (32, 32), 3).eval()


@settings(SETTINGS, max_examples=6)  # a tiny model still takes a second per clip
@given(name=st.sampled_from(["kimnet", "rpstn", "dkd", "lstmpm"]), b=st.sampled_from([0, 1]),
       t=st.sampled_from([0, 2]), dtype=st.sampled_from([torch.float32, torch.float64]))  # fmt: skip
def test_models_on_empty_and_float64_videos(name, b, t, dtype):
    model = _tiny_model(name)
    video = torch.rand(b, t, 3, 32, 32, dtype=dtype)
    # B = 0 in gives an empty result out; T = 0 and a float64 video into float32 weights: a clear error.
    valid = t > 0 and dtype == torch.float32
    with torch.no_grad():
        out = clear_error_or(lambda: model(video), ["video", "T", "dtype", "frames"], None if valid else False)
    if out is not None:
        out = out[0] if isinstance(out, tuple) else out
        assert out.shape[:2] == (b, t) and out.shape[2] in (13, 14)  # LSTMPM adds a background map


# --- functional ops ------------------------------------------------------------------------------------


@SETTINGS
@given(scale=st.one_of(st.none(), WEIRD_REALS), b=st.sampled_from([1, 2]), j=st.sampled_from([1, 3]),
       shape_error=st.sampled_from([None, "key", "value"]), nan=st.booleans())  # fmt: skip
def test_kinematics_attention_inputs(scale, b, j, shape_error, nan):
    query, key = torch.rand(b, j, 3, 3), torch.rand(b, j, 3, 3)
    value = torch.rand(b, j, 5, 5)
    if shape_error == "key":
        key = torch.rand(b, j + 1, 3, 3)
    elif shape_error == "value":
        value = torch.rand(b + 1, j, 5, 5)
    if nan:
        query[0, 0, 0, 0] = math.nan
    scale_ok = scale is None or isinstance(scale, torch.Tensor) or (
        isinstance(scale, numbers.Real) and not isinstance(scale, bool)
    )  # fmt: skip
    valid = scale_ok and shape_error is None
    out = clear_error_or(
        lambda: functional.kinematics_attention(query, key, value, scale=scale, backend="reference"),
        ["scale", "query", "key", "value"],
        valid,
    )
    if out is None:
        return
    prior, attention = out
    finite_scale = scale is None or math.isfinite(float(scale))
    assert tuple(prior.shape) == (b, j, 5, 5) and tuple(attention.shape) == (b, j, j)
    if nan:
        assert prior.isnan().any(), "NaN went in, no NaN came out"
    elif finite_scale:
        assert prior.isfinite().all()


@SETTINGS
@given(scale=WEIRD_REALS, tokens=st.sampled_from([1, 3]), positions=st.sampled_from([1, 4]))
def test_keypoint_mask_scale(scale, tokens, positions):
    valid = isinstance(scale, torch.Tensor) or (isinstance(scale, numbers.Real) and not isinstance(scale, bool))
    out = clear_error_or(
        lambda: functional.keypoint_mask(
            torch.randn(2, tokens, 4), torch.randn(2, positions, 4), scale=scale, backend="reference"
        ),
        ["scale"],
        valid,
    )
    if out is not None and math.isfinite(float(scale)):
        # Each token's softmax over positions sums to 1, so the mask sums to the number of tokens.
        assert tuple(out.shape) == (2, positions)
        torch.testing.assert_close(out.sum(-1), torch.full((2,), float(tokens)), rtol=1e-5, atol=1e-5)


# --- metrics -------------------------------------------------------------------------------------------


@SETTINGS
@given(alpha=WEIRD_REALS, kind=st.sampled_from(["tensor", "numpy", "list"]), joints=st.sampled_from([13, 12]),
       nan_pred=st.booleans(), normalizer=st.sampled_from([10.0, 0.0, -1.0, math.nan]))  # fmt: skip
def test_pck_inputs(alpha, kind, joints, nan_pred, normalizer):
    from posemods.metrics import pck

    rng = np.random.default_rng(0)
    target = rng.uniform(0, 50, (2, joints, 2))
    pred = target + rng.normal(0, 1, target.shape)
    if nan_pred:
        pred[0, 0] = math.nan
    mask, norm = np.ones((2, joints)), np.full(2, normalizer)
    convert = {"tensor": torch.as_tensor, "numpy": np.asarray, "list": lambda a: a.tolist()}[kind]
    valid = is_positive_real(alpha) and joints == 13 and normalizer > 0
    out = clear_error_or(
        lambda: pck(convert(pred), convert(target), convert(mask), convert(norm), "penn_action", alpha),
        ["alpha", "pred", "target", "mask", "normalizer"],
        None if valid else (False if not is_positive_real(alpha) or joints != 13 else None),
    )
    if out is None:
        return
    for name, value in out.items():
        assert math.isnan(value) or 0 <= value <= 100, (name, value)
    if valid and not nan_pred and float(alpha) >= 1:
        # pred is within a few pixels of the target, the threshold alpha * 10 >= 10 pixels.
        assert out["Mean"] > 50


# --- readers: damaged or foreign JSON -------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=3)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "annotations",
                    "images",
                    "annolist",
                    "id",
                    "image_id",
                    "keypoints",
                    "file_name",
                    "categories",
                    "bbox_head",
                    "track_id",
                    "frame_id",
                    "x",
                ]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@SETTINGS
@given(data=JSON_VALUES, cut=st.sampled_from([None, 1, 7]))
def test_posetrack_reader_on_foreign_or_truncated_json(tmp_path, data, cut):
    from posemods.data.posetrack import read_posetrack_videos

    text = json.dumps(data)
    if cut is not None and len(text) > cut:
        text = text[:-cut]
    path = tmp_path / "video.json"
    path.write_text(text)
    clear_error_or(lambda: read_posetrack_videos(path), ["video.json"])


def _posetrack_2018():
    from posemods.skeletons import POSETRACK_17

    return {
        "images": [{"id": 1, "file_name": "images/v/000001.jpg", "is_labeled": True, "frame_id": 1, "vid_id": "v"}],
        "annotations": [{"image_id": 1, "track_id": 0, "keypoints": [5.0, 5.0, 1.0] * 17,
                         "bbox_head": [0.0, 0.0, 10.0, 10.0]}],
        "categories": [{"name": "person", "keypoints": list(POSETRACK_17.joint_names)}],
    }  # fmt: skip


@SETTINGS
@given(data=st.data())
def test_posetrack_reader_on_a_valid_file_with_one_value_changed(tmp_path, data):
    from posemods.data.posetrack import read_posetrack_videos

    doc = _posetrack_2018()
    node = doc
    while True:  # walk down to a random value, then replace or remove it
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and data.draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and data.draw(st.booleans()):
            del node[key]
        else:
            node[key] = data.draw(JSON_VALUES)
        break
    path = tmp_path / "video.json"
    path.write_text(json.dumps(doc))
    clear_error_or(lambda: read_posetrack_videos(path), ["video.json"])


# --- data ----------------------------------------------------------------------------------------------


@SETTINGS
@given(sigma=WEIRD_REALS, frame_size=st.sampled_from([(32, 32), (0, 0), (32,), (16, 24), (-1, 8), None]))
def test_synthetic_videos_and_heatmaps(sigma, frame_size):
    from posemods.data import SyntheticPoseVideos
    from posemods.data.heatmaps import gaussian_heatmaps

    sizes_ok = is_size(frame_size)
    valid = is_positive_real(sigma) and sizes_ok
    dataset = clear_error_or(
        lambda: SyntheticPoseVideos(
            num_clips=1, clip_length=2, frame_size=frame_size, heatmap_size=(8, 8), sigma=sigma
        ),
        ["sigma", "frame_size"],
        valid,
    )
    if dataset is not None:
        clip = dataset[0]
        assert clip["heatmaps"].shape == (2, 13, 8, 8) and float(clip["heatmaps"].max()) <= 1.0
    heatmaps = clear_error_or(
        lambda: gaussian_heatmaps(torch.tensor([[13.5, 13.5]]), torch.ones(1), (8, 8), (32, 32), sigma=sigma),
        ["sigma"],
        is_positive_real(sigma),
    )
    if heatmaps is not None:
        # The joint lands on heatmap pixel (3, 3) ((13.5 + 0.5) / 4 - 0.5 = 3): a peak of exactly 1 there.
        maps = heatmaps[0][0]
        assert maps.isfinite().all() and float(maps[3, 3]) == 1.0 and float(maps.max()) == 1.0


# --- checkpoints ---------------------------------------------------------------------------------------


@SETTINGS
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=3),
       cut=st.sampled_from([None, 0, 1, 100]))  # fmt: skip
def test_a_damaged_checkpoint_is_refused_or_reads_back_exactly(tmp_path, flips, cut):
    from posemods.models import read_state_dict
    from posemods.training.checkpoint import read_checkpoint, save_checkpoint

    path = tmp_path / "last.pt"
    weights = {"w": torch.arange(64, dtype=torch.float32), "b": torch.ones(3, dtype=torch.float64)}
    save_checkpoint(path, config={"model": "kimnet", "sigma": 2.0}, model=weights, step=7)
    data = bytearray(path.read_bytes())
    for where, xor in flips:
        data[int(where * len(data))] ^= xor
    if cut is not None:
        data = data[: len(data) - cut] if cut else data[:0]
    path.write_bytes(bytes(data))
    state = clear_error_or(lambda: read_checkpoint(path), ["last.pt"])
    if state is not None:  # a flip in bytes the payload never reads (e.g. zip padding) changes nothing
        assert state["step"] == 7 and state["config"] == {"model": "kimnet", "sigma": 2.0}
        for name, tensor in weights.items():
            assert torch.equal(state["model"][name], tensor), name
    # A model's checkpoint= reads the same file: the same rule.
    state_dict = clear_error_or(lambda: read_state_dict(path), ["last.pt"])
    if state_dict is not None:
        for name, tensor in weights.items():
            assert torch.equal(state_dict[name], tensor), name


# --- training configuration ----------------------------------------------------------------------------


@SETTINGS
@given(field=st.sampled_from(["sigma", "alpha", "batch_size", "clip_length", "input_size", "split"]),
       value=st.one_of(WEIRD_REALS, WEIRD_INTS, st.sampled_from([(32, 32), (0, 0), "x", "1", (32,)])))  # fmt: skip
def test_train_config_fields(field, value):
    from posemods.training import TrainConfig

    if field in ("sigma", "alpha"):
        valid = is_positive_real(value)
    elif field == "input_size":
        valid = is_size(value)
    elif field == "split":
        valid = False  # synthetic data has no splits
    else:
        valid = is_positive_int(value)
    clear_error_or(lambda: TrainConfig(**{field: value}), [field], valid)


# --- the fuzz harness's classifier (python -m tests.fuzz) --------------------------------------------------


def test_the_fuzz_harness_sorts_outcomes_into_the_five_classes():
    from tests.fuzz.classification import Case, classify, shape_check

    def raise_(error):
        raise error

    cases = {
        "clear error": Case("t", "a", lambda: raise_(ValueError("dim: expected a positive integer")), ("dim",), False),
        "cryptic": Case("t", "b", lambda: raise_(ValueError("cannot reshape tensor")), ("dim",), False),
        "silently wrong": Case("t", "c", lambda: torch.zeros(2), ("dim",), False),
        "correct": Case("t", "d", lambda: torch.zeros(2), ("dim",), True, shape_check((2,))),
        "crash": Case("t", "e", lambda: raise_(OverflowError("cannot convert float infinity")), ("dim",)),
    }
    other = Case("t", "f", lambda: raise_(RuntimeError("dim: mismatch")), ("dim",), None)
    wrong_shape = Case("t", "g", lambda: torch.zeros(3), ("dim",), True, shape_check((2,)))
    nan_lost = Case("t", "h", lambda: torch.zeros(2), ("dim",), True, shape_check((2,), nan_in=True))
    for expected, case in cases.items():
        classify(case)
        assert case.outcome == expected, (case.name, case.outcome, case.detail)
    for case in (other, wrong_shape, nan_lost):
        classify(case)
    assert (other.outcome, wrong_shape.outcome, nan_lost.outcome) == ("cryptic", "silently wrong", "silently wrong")

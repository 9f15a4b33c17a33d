"""HumanKeypointMask: each step's maths with hand-set weights, the Table 5 switches, compile, errors."""

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_compiled_matches_eager, assert_state_dict_whatever_the_backend
from oracles.keypoint_mask import keypoint_mask_loop

import posemods
from posemods import HKM, HKMOutput, HumanKeypointMask
from posemods.testing import assert_close

DIM, HEADS, JOINTS = 8, 2, 3


def small_hkm(**kwargs):
    kwargs = {"num_heads": HEADS, "mlp_ratio": 2.0, **kwargs}
    return HKM(DIM, JOINTS, **kwargs)


def make_identity(blocks):
    """Zero each block's residual branches, so Block(x) = x + 0 + 0 = x exactly."""
    with torch.no_grad():
        for block in blocks:
            for linear in (block.attn.proj, block.mlp.fc2):
                linear.weight.zero_()
                linear.bias.zero_()


def clip(batch=2, frames=3, positions=6, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, positions, DIM, generator=gen).to(dtype)


def test_alias_and_exports():
    assert HKM is HumanKeypointMask is posemods.HumanKeypointMask
    assert posemods.HKMOutput is HKMOutput


@pytest.mark.parametrize("frames", [1, 2, 3, 4])
def test_output_shapes_for_any_number_of_frames(frames):
    hkm = small_hkm(num_frames=frames)
    out = hkm(clip(frames=frames), hw=(2, 3))
    assert isinstance(out, HKMOutput)
    assert out.features.shape == (2, 6, DIM)
    assert out.keypoint_tokens.shape == (2, JOINTS, DIM)
    assert out.human_mask.shape == out.keypoint_mask.shape == (2, frames, 6)
    assert hkm.key_frame == frames // 2


# --- step 1: the human mask, eq. 1 -----------------------------------------------------------------


@pytest.mark.parametrize("activation", ["none", "sigmoid"])
def test_human_mask_with_hand_set_weights_is_the_explicit_product(activation):
    # Identity blocks: F̄ is the input and T̄_h the learned token, so eq. 1 can be written out by hand.
    hkm = small_hkm(mask_activation=activation).double()
    make_identity(hkm.human_blocks)
    feats = clip(dtype=torch.float64)
    coarse, mask = hkm.human_step(feats)
    token = hkm.human_token.detach()  # (T, 1, C)
    expected_mask = torch.zeros(2, 3, 6, dtype=torch.float64)
    for b in range(2):
        for t in range(3):
            for pos in range(6):
                expected_mask[b, t, pos] = sum(feats[b, t, pos, c] * token[t, 0, c] for c in range(DIM))
    if activation == "sigmoid":
        expected_mask = torch.sigmoid(expected_mask)
    assert_close(mask, expected_mask, name="Mask_h")
    assert_close(coarse, feats * expected_mask[..., None], name="F_c")
    assert_close(hkm(feats).human_mask, expected_mask, name="returned Mask_h")


def test_human_mask_with_trained_blocks_is_the_product_of_their_outputs():
    # Real blocks: run them by hand on each frame's [F; T_h] and write eq. 1 out from what they return.
    hkm = small_hkm().double()
    feats = clip(dtype=torch.float64)
    coarse, mask = hkm.human_step(feats)
    for t in range(3):
        seq = torch.cat([feats[:, t], hkm.human_token[t].expand(2, 1, DIM)], dim=1)  # (B, L + 1, C)
        seq = hkm.human_blocks[0](seq)
        feats_bar, token = seq[:, :6], seq[:, 6]
        expected = torch.einsum("blc,bc->bl", feats_bar, token)
        assert_close(mask[:, t], expected, name=f"Mask_h frame {t}")
        assert_close(coarse[:, t], feats_bar * expected[..., None], name=f"F_c frame {t}")


def test_human_blocks_run_within_each_frame():
    # Changing frame 0 must not change frame 1's human mask: the human blocks never mix frames.
    hkm = small_hkm().double()
    feats = clip(dtype=torch.float64)
    other = feats.clone()
    other[:, 0] = torch.randn_like(other[:, 0])
    _, mask = hkm.human_step(feats)
    _, mask_other = hkm.human_step(other)
    assert torch.equal(mask[:, 1:], mask_other[:, 1:])
    assert not torch.allclose(mask[:, 0], mask_other[:, 0])


# --- step 2: the keypoint mask, eq. 2 --------------------------------------------------------------


def test_keypoint_mask_with_hand_set_weights_matches_the_oracle(backend):
    # Identity joint blocks: F̂ is F_c with frames concatenated and T̂_k the learned tokens of every frame.
    hkm = small_hkm(backend=backend)
    make_identity(hkm.joint_blocks)
    coarse = clip()
    fine, tokens_hat, mask = hkm.keypoint_step(coarse)
    tokens = hkm.keypoint_tokens.detach().reshape(1, 3 * JOINTS, DIM).expand(2, -1, -1)
    assert torch.equal(tokens_hat, tokens)
    expected = keypoint_mask_loop(tokens.double(), coarse.reshape(2, 18, DIM).double()).view(2, 3, 6)
    assert_close(mask, expected.float(), name="Mask_k")
    assert_close(fine, coarse * expected[..., None].float(), name="F_f")


def test_keypoint_mask_with_trained_blocks_matches_the_oracle():
    # Real blocks: one space-time sequence [F_c(t-1); T_k(t-1); F_c(t); T_k(t); ...], split by hand.
    hkm = small_hkm().double()
    coarse = clip(dtype=torch.float64)
    fine, tokens_hat, mask = hkm.keypoint_step(coarse)
    tokens = hkm.keypoint_tokens.expand(2, 3, JOINTS, DIM)
    seq = torch.cat([torch.cat([coarse[:, t], tokens[:, t]], dim=1) for t in range(3)], dim=1)
    seq = hkm.joint_blocks[0](seq)  # (B, 3 * (L + J), C)
    frames = [seq[:, t * (6 + JOINTS) : (t + 1) * (6 + JOINTS)] for t in range(3)]
    feats_hat = torch.cat([f[:, :6] for f in frames], dim=1)
    expected_tokens = torch.cat([f[:, 6:] for f in frames], dim=1)
    assert_close(tokens_hat, expected_tokens, name="T̂_k")
    expected = keypoint_mask_loop(expected_tokens, feats_hat)
    assert_close(mask.reshape(2, 18), expected, name="Mask_k")
    assert_close(fine.reshape(2, 18, DIM), feats_hat * expected[..., None], name="F_f")


def test_keypoint_mask_sums_to_frames_times_joints(backend):
    hkm = small_hkm(backend=backend)
    mask = hkm(clip(positions=5)).keypoint_mask
    assert (mask >= 0).all()
    assert_close(mask.sum(dim=(1, 2)), torch.full((2,), 3.0 * JOINTS))


def test_joint_blocks_mix_frames_and_return_the_key_frame_tokens():
    hkm = small_hkm().double()
    feats = clip(dtype=torch.float64)
    other = feats.clone()
    other[:, 0] += 1.0
    mask = hkm.keypoint_step(feats)[2]
    mask_other = hkm.keypoint_step(other)[2]
    assert not torch.allclose(mask[:, 2], mask_other[:, 2])  # space-time: frame 0 reaches frame 2
    out = hkm(feats)
    # The returned tokens are the key frame's T̂_k rows: recompute them from the steps.
    coarse, _ = hkm.human_step(feats)
    _, tokens_hat, _ = hkm.keypoint_step(coarse)
    assert torch.equal(out.keypoint_tokens, tokens_hat.view(2, 3, JOINTS, DIM)[:, 1])


# --- step 3 and the Table 5 switches ---------------------------------------------------------------


def test_aggregate_is_spatial_then_temporal_blocks_then_the_frame_reduction():
    hkm = small_hkm().double()
    fine = clip(dtype=torch.float64)
    # Written out one frame and one position at a time.
    frames = [hkm.spatial_blocks[0](fine[:, t]) for t in range(3)]  # each (B, L, C)
    per_position = []
    for pos in range(6):
        seq = torch.stack([f[:, pos] for f in frames], dim=1)  # (B, T, C)
        seq = hkm.reduce_norm(hkm.temporal_blocks[0](seq))
        per_position.append(hkm.reduce(seq.reshape(2, 3 * DIM)))
    expected = torch.stack(per_position, dim=1)
    assert_close(hkm.aggregate(fine), expected, name="F")
    assert hkm.reduce.fc1.in_features == 3 * DIM and hkm.reduce.fc2.out_features == DIM


def table5_written_out(hkm, feats, human, keypoint):
    """HKM's forward written out step by step from eq. 1-2, with a mask that is off being all ones."""
    batch, frames, positions, channels = feats.shape
    joints = hkm.num_joints
    x = torch.cat([feats, hkm.human_token.expand(batch, frames, 1, channels)], 2).flatten(0, 1)
    for block in hkm.human_blocks:
        x = block(x)
    feats_bar, human_token = x[:, :positions], x[:, positions:]
    mask_h = (feats_bar @ human_token.transpose(1, 2)).squeeze(-1)
    coarse = (feats_bar * mask_h[..., None] if human else feats_bar).view(batch, frames, positions, channels)
    y = torch.cat([coarse, hkm.keypoint_tokens.expand(batch, frames, joints, channels)], 2)
    y = y.reshape(batch, frames * (positions + joints), channels)
    for block in hkm.joint_blocks:
        y = block(y)
    y = y.view(batch, frames, positions + joints, channels)
    feats_hat = y[:, :, :positions].reshape(batch, frames * positions, channels)
    tokens_hat = y[:, :, positions:].reshape(batch, frames * joints, channels)
    mask_k = keypoint_mask_loop(tokens_hat, feats_hat)
    fine = feats_hat * mask_k[..., None] if keypoint else feats_hat
    features = hkm.aggregate(fine.view(batch, frames, positions, channels))
    return features, tokens_hat.view(batch, frames, joints, channels)[:, hkm.key_frame]


@pytest.mark.parametrize("row", ["none", "human", "keypoint", "human+keypoint"])
def test_table5_rows_differ_only_in_the_masks_and_keep_the_keypoint_tokens(row):
    # Table 5: "(a) ... only the spatio-temporal Transformers network", "(b) ... a human mask", "(c) ...
    # a keypoint mask", "(d) ... dual masks". A mask that is off is all ones; the tokens (and so H_k)
    # and every block stay, so all four rows have the same parameters.
    from posemods.variants import VREMD_TABLE5

    flags = VREMD_TABLE5[row]
    torch.manual_seed(1)
    full = small_hkm().double()
    hkm = small_hkm(**flags).double()
    hkm.load_state_dict(full.state_dict())  # strict: the same parameters in every row
    feats = clip(dtype=torch.float64)
    out = hkm(feats)
    features, tokens = table5_written_out(hkm, feats, flags["human_mask"], flags["keypoint_mask"])
    assert out.keypoint_tokens is not None
    assert_close(out.features, features, name="F")
    assert_close(out.keypoint_tokens, tokens, name="T_t")
    ones = torch.ones(2, 3, 6, dtype=torch.float64)
    assert torch.equal(out.human_mask, ones) != flags["human_mask"]
    assert torch.equal(out.keypoint_mask, ones) != flags["keypoint_mask"]


def test_parameter_counts_do_not_follow_the_mask_switches():
    count = lambda m: sum(p.numel() for p in m.parameters())
    sizes = {count(small_hkm(human_mask=h, keypoint_mask=k)) for h in (False, True) for k in (False, True)}
    assert len(sizes) == 1


# --- both backends, autograd, compile, errors ------------------------------------------------------


def test_backends_agree_on_the_whole_module():
    torch.manual_seed(2)
    ref = small_hkm(backend="reference")
    tri = small_hkm(backend="triton")
    tri.load_state_dict(ref.state_dict())
    feats = clip().requires_grad_()
    outs = {}
    for name, module in (("reference", ref), ("triton", tri)):
        out = module(feats, hw=(3, 2))
        loss = out.features.square().sum() + out.keypoint_tokens.sum() + (out.keypoint_mask * feats[..., 0]).sum()
        (grad,) = torch.autograd.grad(loss, feats)
        outs[name] = (*out, grad)
    for a, e, name in zip(outs["triton"], outs["reference"], [*HKMOutput._fields, "grad feats"]):
        assert_close(a, e, name=name)


def test_gradcheck_module_float64():
    hkm = small_hkm(num_frames=2, mask_activation="sigmoid").double()
    feats = (0.5 * torch.randn(1, 2, 2, DIM, dtype=torch.float64)).requires_grad_()
    fn = lambda x: tuple(hkm(x))
    assert torch.autograd.gradcheck(fn, (feats,), fast_mode=True)


def test_state_dict_is_the_same_whatever_the_backend():
    assert_state_dict_whatever_the_backend(small_hkm)


# Dynamo and AOTAutograd see the whole forward and backward, the fake kernels included (aot_eager);
# inductor's code generation for the timm blocks takes about a minute on CPU, so it runs with -m slow.
@pytest.mark.parametrize("compiler", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_compile_fullgraph_matches_eager(backend, compiler):
    feats = clip(batch=1, positions=4).requires_grad_()
    loss = lambda out: out.features.square().sum() + (out.keypoint_mask * feats[..., 0]).sum()
    assert_compiled_matches_eager(small_hkm(backend=backend), (feats,), loss, compiler, hw=(2, 2))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the interpreter's numpy
def test_nan_in_gives_nan_out(backend):
    hkm = small_hkm(backend=backend)
    feats = clip()
    feats[1, 0, 2, 3] = float("nan")
    out = hkm(feats)
    for field in HKMOutput._fields:
        value = getattr(out, field)
        assert value[1].isnan().any(), field
        assert not value[0].isnan().any(), field


@pytest.mark.parametrize(
    "shape, hw, error, match",
    [
        ((2, 3, 6), None, ValueError, r"feats: expected a 4-D tensor \(B, T, L, C\)"),
        ((2, 2, 6, DIM), None, ValueError, r"feats: .*T=3.*T=2"),
        ((2, 3, 6, DIM + 1), None, ValueError, r"feats: .*C=8.*C=9"),
        ((2, 3, 6, DIM), (2, 2), ValueError, r"hw: expected \(H, W\) with H \* W = L = 6, got \(2, 2\)"),
        ((2, 3, 6, DIM), (2, 3, 1), ValueError, r"hw: expected \(H, W\), two integers, got \(2, 3, 1\)"),
        ((2, 3, 6, DIM), (-2, -3), ValueError, r"hw: expected \(H, W\) with H \* W = L = 6, got \(-2, -3\)"),
    ],
)
def test_module_shape_errors(shape, hw, error, match):
    with pytest.raises(error, match=match):
        small_hkm()(torch.rand(shape), hw=hw)


def test_module_rejects_integer_input_and_bad_config():
    with pytest.raises(TypeError, match="feats: expected a floating-point"):
        small_hkm()(torch.ones(1, 3, 4, DIM, dtype=torch.long))
    with pytest.raises(TypeError, match=r"feats: dtype torch.float16 but HumanKeypointMask's parameters are"):
        small_hkm()(torch.ones(1, 3, 4, DIM, dtype=torch.float16))
    with pytest.raises(ValueError, match="dim: expected a multiple of num_heads=3, got 8"):
        HKM(8, 3, num_heads=3)
    with pytest.raises(ValueError, match="mask_activation: expected one of"):
        small_hkm(mask_activation="relu")
    with pytest.raises(ValueError, match="num_frames: expected a positive integer"):
        small_hkm(num_frames=0)
    with pytest.raises(ValueError, match="backend: expected one of"):
        small_hkm(backend="cuda")


@pytest.mark.parametrize(
    "bad, error",
    [
        ("4", TypeError),
        (None, TypeError),
        (True, TypeError),
        (0, ValueError),
        (-2.0, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
    ],
)
def test_mlp_ratio_is_validated_before_anything_is_allocated(bad, error):
    # '4' used to reach timm's Block as dim * '4', a string of eight fours, then gigabytes.
    with pytest.raises(error, match="mlp_ratio: expected a"):
        small_hkm(mlp_ratio=bad)


def test_inputs_on_another_device_are_named():
    with pytest.raises(ValueError, match=r"feats: on device cpu but HumanKeypointMask's parameters are on meta"):
        small_hkm().to("meta")(clip())


def test_prefix_tokens_pass_through_from_the_key_frame():
    torch.manual_seed(2)
    plain = small_hkm().double()
    with_prefix = small_hkm(num_prefix_tokens=1).double()
    with_prefix.load_state_dict(plain.state_dict())
    feats, cls = clip(dtype=torch.float64), clip(positions=1, dtype=torch.float64, seed=4)
    out = with_prefix(torch.cat([cls, feats], dim=2), hw=(2, 3))
    expected = plain(feats)
    assert out.features.shape == (2, 7, DIM) and torch.equal(out.features[:, :1], cls[:, 1])
    assert_close(out.features[:, 1:], expected.features)
    assert_close(out.keypoint_tokens, expected.keypoint_tokens)
    assert out.human_mask.shape == (2, 3, 6) and out.keypoint_mask.shape == (2, 3, 6)


def test_works_with_the_paper_defaults():
    # num_heads=8 and mlp_ratio=4 as in the signature; ViT-like width kept small for CPU.
    hkm = HKM(32, 17)
    out = hkm(torch.randn(1, 3, 12, 32), hw=(4, 3))
    assert out.features.shape == (1, 12, 32) and out.keypoint_tokens.shape == (1, 17, 32)
    assert F.mse_loss(out.features, torch.zeros_like(out.features)).isfinite()

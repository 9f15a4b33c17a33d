"""The motion-operator contract: one constructor path for DCA, DA, DC and the blocks built of them (ADC, BMD)."""

import pytest
import torch

from posemods import BMD, DCA, DeformableConvMotion
from posemods.modules import AdaptiveDeformableCross, deformable_motion
from posemods.modules.motion_operator import MotionConfig, MotionOperator

# state_dict keys and shapes, in order, as the modules had them before their constructors became one
# path (issue 19): checkpoints saved before must load, and a seeded build must create its parameters
# in the same order, so the same seed gives the same weights. dim 8, 2 heads, 3 points, Cz 6.
DCA_TABLE = {
    "q_proj.weight": (8, 8), "q_proj.bias": (8,), "z_proj.weight": (8, 6), "z_proj.bias": (8,),
    "offsets.psi.0.weight": (8, 16, 1, 1), "offsets.psi.0.bias": (8,), "offsets.psi.1.weight": (8, 1, 3, 3),
    "offsets.psi.1.bias": (8,), "offsets.theta.weight": (12, 8), "offsets.theta.bias": (12,),  # G * N * 2 = 12
    "k_proj.weight": (8, 8), "v_proj.weight": (8, 8), "v_proj.bias": (8,), "out_proj.weight": (8, 8),
    "out_proj.bias": (8,), "reference_proj.weight": (2, 8), "reference_proj.bias": (2,),
}  # fmt: skip
DA_TABLE = {
    "offsets.theta.weight": (12, 8), "offsets.theta.bias": (12,), "point_weights.weight": (6, 8),  # G * N = 6
    "point_weights.bias": (6,), "v_proj.weight": (8, 8), "v_proj.bias": (8,), "out_proj.weight": (8, 8),
    "out_proj.bias": (8,),
}  # fmt: skip
DC_TABLE = {  # the offset conv predicts G * 2 * k * k = 36 channels
    "weight": (8, 8, 3, 3), "bias": (8,), "offsets.weight": (36, 8, 3, 3), "offsets.bias": (36,),
}  # fmt: skip
ADC_TABLE = {  # the ADC block around DCA_TABLE: LN, DCA, LN_F, cross attention, Mlp 2C -> 2C -> C
    "norm.weight": (8,), "norm.bias": (8,), **{f"deform.{key}": shape for key, shape in DCA_TABLE.items()},
    "constraint_norm.weight": (6,), "constraint_norm.bias": (6,), "cross.q_proj.weight": (8, 8),
    "cross.q_proj.bias": (8,), "cross.kv_proj.weight": (16, 6), "cross.kv_proj.bias": (16,),
    "cross.out_proj.weight": (8, 8), "cross.out_proj.bias": (8,), "mlp.fc1.weight": (16, 16), "mlp.fc1.bias": (16,),
    "mlp.fc2.weight": (8, 16), "mlp.fc2.bias": (8,),
}  # fmt: skip


def stream(name, block, embed=None):
    """A MotionStream's keys: its embedding (None: the identity), one block, its final norm."""
    keys = {f"{name}.embed.weight": embed, f"{name}.embed.bias": embed[:1]} if embed else {}
    keys.update({f"{name}.blocks.0.{key}": shape for key, shape in block.items()})
    return {**keys, f"{name}.norm.weight": (8,), f"{name}.norm.bias": (8,)}


BMD_TABLE = {  # T = 3 with BS: two streams of one ADC block each, no embedding, a 2C -> C fusion
    **stream("forward_stream", ADC_TABLE), **stream("backward_stream", ADC_TABLE),
    "fusion.weight": (8, 16), "fusion.bias": (8,),
}  # fmt: skip
DC_BLOCK = {  # Table 6 (a): no cross attention, no LN_F, Mlp C -> 2C -> C
    "norm.weight": (8,), "norm.bias": (8,), **{f"deform.{key}": shape for key, shape in DC_TABLE.items()},
    "mlp.fc1.weight": (16, 8), "mlp.fc1.bias": (16,), "mlp.fc2.weight": (8, 16), "mlp.fc2.bias": (8,),
}  # fmt: skip
BMD_DC_JOINT_TABLE = {  # T = 5 without BS: one stream embedding 2K * C = 32 channels, a C -> C fusion
    **stream("stream", DC_BLOCK, embed=(8, 32)), "fusion.weight": (8, 8), "fusion.bias": (8,),
}  # fmt: skip

SETTINGS = dict(num_heads=2, num_points=3, constraint_dim=6)
BUILDS = {
    "dca": (lambda: deformable_motion("dca", 8, **SETTINGS), DCA_TABLE),
    "da": (lambda: deformable_motion("da", 8, **SETTINGS), DA_TABLE),
    "dc": (lambda: deformable_motion("dc", 8, **SETTINGS), DC_TABLE),
    "adc": (lambda: AdaptiveDeformableCross(8, mlp_ratio=2.0, **SETTINGS), ADC_TABLE),
    "bmd": (lambda: BMD(8, depth=1, mlp_ratio=2.0, **SETTINGS), BMD_TABLE),
    "bmd dc, no BS, T=5": (
        lambda: BMD(8, 2, 3, depth=1, mlp_ratio=2.0, operator="dc", bidirectional=False, num_frames=5),
        BMD_DC_JOINT_TABLE,
    ),
}


@pytest.mark.parametrize("name", BUILDS)
def test_state_dict_keys_and_shapes_are_those_of_the_table(name):
    build, table = BUILDS[name]
    torch.manual_seed(0)
    got = [(key, tuple(value.shape)) for key, value in build().state_dict().items()]
    assert got == list(table.items())


def test_the_operators_are_motion_operators_with_the_same_settings():
    for module in (DCA(8, 2, 3), DCA(8, 2, 3, operator="da"), DeformableConvMotion(8, 2, 3)):
        assert isinstance(module, MotionOperator)
        assert (module.dim, module.num_heads, module.num_points, module.constraint_dim) == (8, 2, 3, 8)
    assert [DCA(8, 2).reference_points, DCA(8, 2, operator="da").reference_points] == ["constraint", "grid"]
    assert DeformableConvMotion(8, 2).reference_points == "grid"


BAD_SETTINGS = [
    (dict(num_points=0), "num_points: expected a positive integer, got 0 (int)"),
    (dict(num_heads=3), "dim: expected a multiple of num_heads=3, got 8"),
    (dict(offset_kernel_size=4), "offset_kernel_size: expected an odd size so the map keeps H x W, got 4"),
    (dict(offset_conv="grouped"), "offset_conv: expected one of ('depthwise', 'full'), got 'grouped'"),
    (dict(constraint_dim=0), "constraint_dim: expected a positive integer, got 0 (int)"),
    (dict(backend="cuda"), "backend: expected one of ('auto', 'reference', 'triton'), got 'cuda'"),
    (dict(reference_points="learned"), "reference_points: expected one of ('grid', 'constraint'), got 'learned'"),
]
TAKERS = {
    "DCA": lambda **kw: DCA(8, **{"num_heads": 2, **kw}),
    "DC": lambda **kw: DeformableConvMotion(8, **{"num_heads": 2, **kw}),
    "ADC": lambda **kw: AdaptiveDeformableCross(8, **{"num_heads": 2, **kw}),
    "BMD": lambda **kw: BMD(8, **{"num_heads": 2, **kw}),
    "MotionConfig": lambda **kw: MotionConfig(8, **{"num_heads": 2, **kw}),
}


@pytest.mark.parametrize("taker", TAKERS)
@pytest.mark.parametrize("bad, message", BAD_SETTINGS)
def test_every_module_that_takes_the_settings_refuses_a_bad_one_with_the_same_error(taker, bad, message):
    with pytest.raises(ValueError) as error:
        TAKERS[taker](**bad)
    assert str(error.value) == message


@pytest.mark.parametrize("taker", ["ADC", "BMD"])
def test_the_blocks_refuse_reference_points_from_z_for_da_and_dc(taker):
    for operator, what in (("da", "plain deformable attention"), ("dc", "deformable convolution")):
        with pytest.raises(ValueError, match=rf"reference_points: {what} \(operator='{operator}'\) has no z"):
            TAKERS[taker](operator=operator, reference_points="constraint")


def test_the_config_resolves_cz_and_the_reference_points_per_operator():
    assert (MotionConfig(8).constraint_dim, MotionConfig(8, constraint_dim=6).constraint_dim) == (8, 6)
    modes = [MotionConfig(8, operator=operator).reference_points for operator in ("dca", "da", "dc")]
    assert modes == ["constraint", "grid", "grid"]

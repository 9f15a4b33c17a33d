"""Backbones, heads and SimpleBaseline: random init, local checkpoints, output sizes."""

import pytest
import timm
import torch

from posemods.models import Backbone, DeconvHead, SimpleBaseline, load_checkpoint, read_state_dict


def test_backbone_is_random_and_sized():
    backbone = Backbone("resnet18")
    assert (backbone.out_channels, backbone.reduction) == (512, 32)
    assert backbone(torch.rand(1, 3, 64, 96)).shape == (1, 512, 2, 3)


def test_backbone_loads_a_local_classification_checkpoint(tmp_path):
    source = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)  # includes fc.*, which a features-only body has not
    backbone = Backbone("resnet18", checkpoint=path)
    for key, value in backbone.body.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key
    fresh = Backbone("resnet18")
    assert not torch.equal(fresh.body.conv1.weight, backbone.body.conv1.weight)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(timm.create_model("resnet34", pretrained=False).state_dict(), path)
    with pytest.raises(ValueError, match=r"does not fit .*unexpected keys \['layer1.2"):
        Backbone("resnet18", checkpoint=path)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        Backbone("resnet18", checkpoint=tmp_path / "missing.pth")


def test_training_checkpoints_are_unwrapped(tmp_path):
    head = DeconvHead(8, 3, num_layers=1, channels=4)
    path = tmp_path / "wrapped.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in head.state_dict().items()}}, path)
    assert set(read_state_dict(path)) == set(head.state_dict())
    other = DeconvHead(8, 3, num_layers=1, channels=4)
    load_checkpoint(other, path)
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), head.state_dict().values()))


@pytest.mark.parametrize("kernel_size", [4, 3, 2])
def test_deconv_head_doubles_per_layer(kernel_size):
    head = DeconvHead(16, 5, num_layers=3, channels=8, kernel_size=kernel_size)
    assert head(torch.rand(2, 16, 3, 5)).shape == (2, 5, 24, 40)


def test_deconv_head_serves_vitpose_and_feature_encoders():
    # ViTPose's classic decoder: two deconvolutions on the 16 x 12 patch grid -> 64 x 48 heatmaps.
    assert DeconvHead(64, 17, num_layers=2, channels=32)(torch.rand(1, 64, 16, 12)).shape == (1, 17, 64, 48)
    features = DeconvHead(64, None, num_layers=2, channels=32)
    assert features.final is None and features.out_channels == 32
    with pytest.raises(ValueError, match=r"x: .*C=64.*C=63"):
        features(torch.rand(1, 63, 4, 4))


def test_simple_baseline_outputs_quarter_resolution(tmp_path):
    heatmaps = SimpleBaseline("resnet18", num_joints=13, channels=32)
    assert heatmaps(torch.rand(1, 3, 64, 96)).shape == (1, 13, 16, 24)
    features = SimpleBaseline("resnet18", None, channels=32)
    assert features(torch.rand(1, 3, 64, 64)).shape == (1, 32, 16, 16)
    path = tmp_path / "sb.pth"
    torch.save(heatmaps.state_dict(), path)
    again = SimpleBaseline("resnet18", num_joints=13, channels=32, checkpoint=path).eval()
    image = torch.rand(1, 3, 64, 64)
    assert torch.equal(again(image), heatmaps.eval()(image))
    with pytest.raises(ValueError, match="image: expected shape"):
        heatmaps(torch.rand(1, 1, 64, 64))


def test_hrnet_gives_its_high_resolution_branch_as_hrnets_head_reads_it():
    # Before: timm's last features_only map (stride 32, the classification "incre" stack) under deconvs.
    backbone = Backbone("hrnet_w18_small")
    assert (backbone.reduction, backbone.input_multiple) == (4, 32)
    reference = timm.create_model("hrnet_w18_small", pretrained=False, features_only=True, feature_location="")
    reference.load_state_dict(backbone.body.state_dict())
    image = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        expected = reference.eval()(backbone.normalize(image))[1]  # the stride-4 branch
        out = backbone.eval()(image)
    assert out.shape == (1, 16, 16, 24) and out.shape[1] == reference.feature_info.channels()[1]
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="multiples of hrnet_w18_small's deepest stride 32"):
        backbone(torch.rand(1, 3, 48, 64))


def test_simple_baseline_on_hrnet_is_a_1x1_head_at_quarter_resolution():
    heatmaps = SimpleBaseline("hrnet_w18_small", 5)
    assert len(heatmaps.head.deconv) == 0 and heatmaps.head.final.in_channels == 16
    assert heatmaps(torch.rand(1, 3, 64, 64)).shape == (1, 5, 16, 16)
    encoder = SimpleBaseline("hrnet_w18_small", None, channels=24)
    assert encoder.out_channels == 24 and encoder(torch.rand(2, 3, 64, 32)).shape == (2, 24, 16, 8)


def test_unknown_backbone_names_are_refused_by_name():
    # Before: timm's "RuntimeError: Unknown model (resnet_51)".
    with pytest.raises(ValueError, match=r"backbone: expected the name of a timm model, got 'resnet_51'"):
        Backbone("resnet_51")

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

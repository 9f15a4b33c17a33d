"""Every reference model normalises its [0, 1] frames itself, without adding state to checkpoints."""

import pytest
import torch

from posemods.models.backbones import Backbone
from posemods.models.lstmpm import LSTMPM
from posemods.models.normalize import IMAGENET_MEAN, IMAGENET_STD, ImageNormalize
from posemods.models.vit import ViTBackbone


def test_image_normalize_matches_the_formula():
    # The statistics are held in float32, hence the tolerance.
    image = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64)[:, None, None]
    torch.testing.assert_close(ImageNormalize()(image), (image - mean) / std, rtol=0, atol=1e-6)


def test_image_normalize_rejects_bad_statistics():
    with pytest.raises(ValueError, match="std"):
        ImageNormalize(std=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="mean, std"):
        ImageNormalize(mean=(0.5,))


def _mean_image(mean, size):
    return torch.tensor(mean).view(1, 3, 1, 1).expand(1, 3, *size).clone()


def test_cnn_backbone_sees_normalised_pixels():
    backbone = Backbone("resnet18").eval()
    with torch.no_grad():
        out = backbone(_mean_image(IMAGENET_MEAN, (64, 64)))
        expected = backbone.body(torch.zeros(1, 3, 64, 64))[0]
    torch.testing.assert_close(out, expected)
    assert not any("normalize" in k for k in backbone.state_dict())


def test_vit_backbone_sees_normalised_pixels():
    backbone = ViTBackbone("micro", img_size=(32, 32)).eval()
    with torch.no_grad():
        out = backbone(_mean_image(IMAGENET_MEAN, (32, 32)))
        expected = backbone.vit.forward_features(torch.zeros(1, 3, 32, 32))
    torch.testing.assert_close(out, expected)
    assert not any("normalize" in k for k in backbone.state_dict())


def test_lstmpm_centres_its_frames():
    model = LSTMPM(num_joints=3).eval()
    grey = torch.full((1, 1, 3, 48, 48), 0.5)
    with torch.no_grad():
        _, initial = model(grey, return_initial=True)
        expected = model.initializer(torch.zeros(1, 3, 48, 48))
    torch.testing.assert_close(initial, expected)
    assert not any("normalize" in k for k in model.state_dict())

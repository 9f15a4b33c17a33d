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


# --- statistics from the backbone's pretrained_cfg (issue 14) ---------------------------------------

TINY_VIT = {"embed_dim": 32, "depth": 1, "num_heads": 2}


def test_normalize_reads_a_pretrained_cfg():
    norm = ImageNormalize.from_pretrained_cfg({"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.5, 1.0)})
    image = torch.rand(1, 3, 2, 2)
    expected = (image - 0.5) / torch.tensor([0.25, 0.5, 1.0]).view(3, 1, 1)
    torch.testing.assert_close(norm(image), expected)
    default = ImageNormalize.from_pretrained_cfg({})  # a model outside timm's registry: ImageNet's
    torch.testing.assert_close(default(image), ImageNormalize()(image))


@pytest.mark.parametrize(
    "name, mean",
    [
        ("vit_tiny_patch16_224", (0.5, 0.5, 0.5)),  # augreg: (0.5, 0.5, 0.5), not ImageNet's
        ("vit_small_patch14_reg4_dinov2", IMAGENET_MEAN),
    ],
)
def test_timm_vit_by_name_uses_its_own_statistics_and_drops_prefix_tokens(name, mean):
    import timm

    patch = 14 if "patch14" in name else 16
    size = (4 * patch, 3 * patch)
    backbone = ViTBackbone(name, img_size=size, **TINY_VIT).eval()
    cfg = timm.create_model(name, pretrained=False, num_classes=0, **TINY_VIT).pretrained_cfg
    assert tuple(cfg["mean"]) == tuple(mean)  # the statistics timm records for this model
    assert backbone.grid == (4, 3) and backbone.patch_size == patch and backbone.num_prefix_tokens > 0
    with torch.no_grad():
        out = backbone(_mean_image(mean, size))
        expected = backbone.vit.forward_features(torch.zeros(1, 3, *size))[:, backbone.num_prefix_tokens :]
    assert out.shape == (1, 12, 32)
    torch.testing.assert_close(out, expected)


def test_unknown_or_non_vit_timm_names_are_refused():
    with pytest.raises(ValueError, match=r"preset: expected one of .* or a timm ViT name.*'vit_gigantic_nope'"):
        ViTBackbone("vit_gigantic_nope", img_size=(32, 32))
    with pytest.raises(ValueError, match="preset: 'resnet18' is not a timm VisionTransformer"):
        ViTBackbone("resnet18", img_size=(32, 32))
    with pytest.raises(ValueError, match="timm_kwargs: only for a timm model name"):
        ViTBackbone("micro", img_size=(32, 32), depth=3)


def test_timm_vit_by_name_loads_a_local_checkpoint_with_its_cls_token(tmp_path):
    import timm

    source = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=5, **TINY_VIT)
    torch.save(source.state_dict(), tmp_path / "vit.pth")  # 14 x 14 grid, cls token, classifier
    backbone = ViTBackbone("vit_tiny_patch16_224", img_size=(32, 48), checkpoint=tmp_path / "vit.pth", **TINY_VIT)
    torch.testing.assert_close(backbone.vit.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    torch.testing.assert_close(backbone.vit.cls_token, source.cls_token)
    assert backbone.vit.pos_embed.shape == (1, 1 + 2 * 3, 32)

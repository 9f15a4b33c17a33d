"""Pictures of a pose model at work: skeletons over a clip, KMM's joint attention, HKM's masks.

    PYTHONPATH=. python examples/visualize.py --checkpoint runs/demo/last.pt --out pictures
    PYTHONPATH=. python examples/visualize.py --out pictures        # an untrained tiny KIMNet

Writes three PNGs into ``--out``:

- ``skeletons.png``: one held-out clip's frames with the ground-truth (green; hollow joints are
  occluded) and predicted (orange) skeletons;
- ``kmm_attention.png``: KMM's J x J joint attention on that clip, averaged over its frames, with
  joint names (like KIMNet's Fig. 4), when the model has a KMM;
- ``hkm_masks.png``: HKM's human and keypoint masks over the frames: the model's own for a model
  with an HKM (VREMD with ``hkm``); otherwise a standalone, untrained HKM on an untrained tiny timm
  ViT's tokens of the clip, which shows the picture, not learned masks.

Needs matplotlib (``pip install posemods[viz]``); runs headless.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from posemods import visualize
from posemods.metrics import decode_to_image
from posemods.models import get_model_spec
from posemods.training import TrainConfig, build_datasets, build_model, predict, read_checkpoint


def hkm_masks(frames: torch.Tensor, num_joints: int, patch: int = 8) -> dict[str, torch.Tensor]:
    """Human and keypoint masks (T, h, w) of a standalone HKM on a tiny ViT's tokens of frames (T, 3, H, W)."""
    import timm

    from posemods import HKM

    t, _, height, width = frames.shape
    vit = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=(height, width), patch_size=patch, num_classes=0
    ).eval()
    with torch.no_grad():
        tokens = vit.forward_features(frames)[:, vit.num_prefix_tokens :]  # (T, L, C)
        hkm = HKM(tokens.shape[-1], num_joints, num_frames=t, num_heads=3).eval()
        out = hkm(tokens[None])
    grid = (height // patch, width // patch)
    return {"human mask": out.human_mask[0].reshape(t, *grid), "keypoint mask": out.keypoint_mask[0].reshape(t, *grid)}


@torch.no_grad()
def model_hkm_masks(model: torch.nn.Module, video: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """The masks (T, h, w) of the HKM inside ``model`` on the first clip of ``video``, or None without one."""
    from posemods import HKM

    hkms = [m for m in model.modules() if isinstance(m, HKM)]
    grid = getattr(getattr(model, "backbone", None), "grid", None)
    if len(hkms) != 1 or grid is None:
        return None
    found = []
    hook = hkms[0].register_forward_hook(lambda m, args, out: found.append(out))
    try:
        model(video)
    finally:
        hook.remove()
    t = video.shape[1]
    return {
        "human mask": found[0].human_mask[0].reshape(t, *grid),
        "keypoint mask": found[0].keypoint_mask[0].reshape(t, *grid),
    }


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", help="a checkpoint of python -m posemods.train (default: untrained tiny KIMNet)"
    )
    parser.add_argument("--out", default="pictures", help="folder for the PNGs")
    parser.add_argument("--clip", type=int, default=0, help="which held-out clip to draw")
    parser.add_argument("--preset", default="tiny", help="model size without a checkpoint")
    parser.add_argument("--input-size", type=int, nargs=2, default=(64, 64), metavar=("H", "W"))
    args = parser.parse_args(argv)

    if args.checkpoint:
        state = read_checkpoint(args.checkpoint)
        config = TrainConfig.from_dict(state["config"])
    else:
        state = None
        config = TrainConfig(preset=args.preset, input_size=tuple(args.input_size), occluders=2, occluder_size=12)
    spec = get_model_spec(config.model)
    _, eval_set, layout = build_datasets(config, spec, train=False)
    torch.manual_seed(config.seed)
    model, _ = build_model(config, layout.num_joints)
    if state is not None:
        model.load_state_dict(state["model"])
    model.eval()
    clips = torch.utils.data.default_collate([eval_set[args.clip]])

    with torch.no_grad():
        heatmaps, scored = predict(model, spec, clips)
    input_size = tuple(clips["frames"].shape[-2:])  # (H, W)
    joints, _ = decode_to_image(heatmaps.float(), clips["affine"], input_size)
    # Draw in crop pixels: the frames are the crop (for synthetic clips crop and image coincide).
    affine = scored["affine"][0].float()
    # float32 for drawing: joints_image is float64 in the clip contract, decoded joints float32.
    to_crop = lambda p: p.float() @ affine[:, :2].T + affine[:, 2]
    name = f"{config.model} ({config.variant or spec.default_variant}, {config.preset})"
    trained = "trained" if state is not None else "untrained"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    fig = visualize.plot_skeletons(
        scored["frames"][0], to_crop(scored["joints_image"][0]), to_crop(joints[0]), layout,
        scored["visibility"][0], title=f"{name}, {trained}: held-out clip {args.clip}",
    )  # fmt: skip
    visualize.save(fig, out / "skeletons.png")
    written.append(out / "skeletons.png")

    try:
        attention = visualize.kmm_attention(model, clips["frames"])  # (1, calls, J, J)
    except ValueError:
        attention = None  # no KMM in this model
    if attention is not None:
        fig = visualize.plot_joint_attention(attention[0].mean(0), layout, f"KMM attention, {name}, {trained}")
        visualize.save(fig, out / "kmm_attention.png")
        written.append(out / "kmm_attention.png")

    masks = model_hkm_masks(model, clips["frames"])
    if masks is not None:
        frames, title = clips["frames"][0], f"HKM masks, {name}, {trained}"
    else:
        frames, title = clips["frames"][0][:3], "HKM masks (a standalone untrained HKM on an untrained ViT)"
        masks = hkm_masks(frames, layout.num_joints)
    fig = visualize.plot_token_masks(frames, masks, title)
    visualize.save(fig, out / "hkm_masks.png")
    written.append(out / "hkm_masks.png")
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()

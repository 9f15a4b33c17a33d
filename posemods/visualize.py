"""Pictures of what a pose model sees and predicts: skeletons over frames, KMM's joint attention, HKM's masks.

As a command, ``posemods-visualize CHECKPOINT [--video PATH] [--out DIR] [--format png|gif|mp4]``
(``python -m posemods.visualize``) loads a trained model with :func:`posemods.load_model` and writes:

- ``predictions.png``: a strip of frames with the predicted skeleton (orange) and, on the checkpoint's
  own held-out clip, the ground truth (green; hollow joints are occluded); ``--format gif`` or ``mp4``
  writes ``predictions.gif`` / ``.mp4`` instead, an animation of every frame;
- ``kmm_attention.png``: KMM's J x J joint attention averaged over the frames (like KIMNet's Fig. 4),
  for models that have a KMM;
- ``hkm_masks.png``: HKM's human and keypoint masks over the frames, with colour bars, for models
  that have an HKM (VREMD with ``hkm``).

Nothing is drawn for a module the model does not have. ``--video`` takes a folder of frames, an image
or animated GIF, or a video file (with ``pip install "posemods[video]"``); without it the frames are
the held-out clip of the checkpoint's own data.

Every drawing function takes plain tensors (and a joint layout), never a model, so it draws the
output of any model. Needs matplotlib (``pip install "posemods[viz]"``), imported when a function is
called. Shapes use the vocabulary of :mod:`posemods._shapes`.

The figures are :class:`matplotlib.figure.Figure` objects made without pyplot (matplotlib's
object-oriented API, as its "Embedding in a web application server" example does), so drawing
changes no global state: not the caller's backend (a notebook keeps its inline figures), and no
figure is left registered with pyplot. Show one in a notebook by returning it, or save it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import nn

from posemods._optional import optional_import
from posemods.skeletons import SKELETONS, Skeleton, get_skeleton

TRUTH_COLOR, PREDICTION_COLOR = "#00e676", "#ff9100"
#: What ``--format`` writes the predictions as, and the matplotlib writer of each animation.
FORMATS = ("png", "gif", "mp4")
_WRITERS = {"gif": "pillow", "mp4": "ffmpeg"}
#: Image files ``--video`` reads from a folder (PIL decodes them; matplotlib already needs PIL).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _figure(**kwargs):
    """A new :class:`matplotlib.figure.Figure`, not managed by pyplot."""
    return optional_import("matplotlib.figure", "viz", "posemods.visualize").Figure(**kwargs)


def _image(frame: torch.Tensor):
    """(3, H, W) in [0, 1] -> (H, W, 3) numpy for imshow."""
    return frame.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def draw_skeleton(ax, joints: torch.Tensor, skeleton: Skeleton, color, visible: torch.Tensor | None = None, **kw):
    """Draw limbs and joints (J, 2) on a matplotlib axis; joints with ``visible == 0`` get hollow markers.

    Joints at NaN (not annotated) are left out, with their limbs.
    """
    patheffects = optional_import("matplotlib.patheffects", "viz", "posemods.visualize")
    pts = joints.detach().float().cpu()
    outline = [patheffects.withStroke(linewidth=kw.get("linewidth", 1.5) + 1.5, foreground="black")]
    for a, b in skeleton.edge_index:
        if torch.isfinite(pts[[a, b]]).all():
            ax.plot(pts[[a, b], 0], pts[[a, b], 1], "-", color=color, linewidth=kw.get("linewidth", 1.5),
                    path_effects=outline)  # fmt: skip
    shown = torch.ones(len(pts), dtype=torch.bool) if visible is None else visible.cpu() > 0
    size = kw.get("markersize", 14)
    ax.scatter(pts[shown, 0], pts[shown, 1], s=size, color=color, edgecolors="black", linewidths=0.5, zorder=3)
    ax.scatter(pts[~shown, 0], pts[~shown, 1], s=size * 2.5, facecolors="none", edgecolors=color, linewidths=1.5,
               zorder=3)  # fmt: skip


def _legend(fig, truth: bool) -> None:
    Line2D = optional_import("matplotlib.lines", "viz", "posemods.visualize").Line2D
    handles = [Line2D([], [], color=PREDICTION_COLOR, label="prediction")]
    if truth:
        handles.insert(0, Line2D([], [], color=TRUTH_COLOR, label="ground truth (hollow: occluded)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)


def plot_skeletons(
    frames: torch.Tensor,
    truth: torch.Tensor | None,
    prediction: torch.Tensor,
    layout: str | Skeleton,
    visibility: torch.Tensor | None = None,
    title: str | None = None,
):
    """One row of frames (T, 3, H, W) with the predicted (T, J, 2) and, when given, the ground-truth
    (T, J, 2) skeletons, in the frames' pixels.

    Ground truth is green, the prediction orange; ground-truth joints with ``visibility`` (T, J) 0
    (occluded) are hollow circles. Returns the matplotlib figure.
    """
    skeleton = get_skeleton(layout)
    t = frames.shape[0]
    fig = _figure(figsize=(2.6 * t, 2.9))
    axes = fig.subplots(1, t, squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(_image(frames[i]), interpolation="nearest")
        if truth is not None:
            draw_skeleton(ax, truth[i], skeleton, TRUTH_COLOR, None if visibility is None else visibility[i])
        draw_skeleton(ax, prediction[i], skeleton, PREDICTION_COLOR, linewidth=1.2)
        ax.set_title(f"frame {i + 1}", fontsize=9)
        ax.set_axis_off()
    _legend(fig, truth is not None)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def animate_skeletons(
    path: str | Path,
    frames: torch.Tensor,
    prediction: torch.Tensor,
    layout: str | Skeleton,
    truth: torch.Tensor | None = None,
    visibility: torch.Tensor | None = None,
    title: str | None = None,
    fps: float = 5.0,
) -> Path:
    """Write the frames (T, 3, H, W) with their skeletons as an animation: a GIF (``path`` ending in
    ``.gif``, through Pillow, which matplotlib installs) or an MP4 (``.mp4``, through ffmpeg, which must
    be on the PATH). Arguments as :func:`plot_skeletons`; returns ``path``."""
    animation = optional_import("matplotlib.animation", "viz", "posemods.visualize")
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in _WRITERS:
        raise ValueError(f"path: expected a .gif or .mp4 file, got {str(path)!r}")
    if not animation.writers.is_available(_WRITERS[fmt]):
        raise RuntimeError(f"writing {fmt.upper()} needs {_WRITERS[fmt]}, which matplotlib cannot find here")
    skeleton = get_skeleton(layout)
    height, width = frames.shape[-2:]
    scale = 4.0 / max(height, width)
    fig = _figure(figsize=(width * scale, height * scale + 0.5))
    ax = fig.add_axes((0, 0.1, 1, 0.8))
    writer = animation.writers[_WRITERS[fmt]](fps=fps)
    with writer.saving(fig, str(path), dpi=100):
        for i in range(frames.shape[0]):
            ax.clear()
            ax.imshow(_image(frames[i]), interpolation="nearest")
            if truth is not None:
                draw_skeleton(ax, truth[i], skeleton, TRUTH_COLOR, None if visibility is None else visibility[i])
            draw_skeleton(ax, prediction[i], skeleton, PREDICTION_COLOR, linewidth=1.2)
            ax.set_axis_off()
            ax.set_title(f"{title + ', ' if title else ''}frame {i + 1}", fontsize=8)
            writer.grab_frame()
    return path


def plot_joint_attention(attention: torch.Tensor, layout: str | Skeleton, title: str | None = None):
    """A J x J attention map (rows: the joint attending, columns: the joint attended) with joint names.

    Like KIMNet's Fig. 4: ``attention`` (J, J) is KMM's ``A`` for one clip (average over frames or
    batches before calling, if wanted). Returns the matplotlib figure.
    """
    skeleton = get_skeleton(layout)
    names = [n.replace("left_", "l_").replace("right_", "r_") for n in skeleton.joint_names]
    j = len(names)
    fig = _figure(figsize=(0.42 * j + 2.2, 0.42 * j + 1.2))
    ax = fig.subplots()
    image = ax.imshow(attention.detach().float().cpu().numpy(), cmap="viridis")
    ax.set_xticks(range(j), names, rotation=90, fontsize=8)
    ax.set_yticks(range(j), names, fontsize=8)
    ax.set_xlabel("attended joint (previous frame)")
    ax.set_ylabel("joint (current frame)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_token_masks(frames: torch.Tensor, masks: dict[str, torch.Tensor], title: str | None = None):
    """Masks over the frames: one row per entry of ``masks``, one column per frame, a colour bar per row.

    ``frames`` (T, 3, H, W); each mask (T, h, w) on the token grid (e.g. HKM's ``human_mask`` and
    ``keypoint_mask`` (B, T, L) of one clip, reshaped to the backbone's h x w patch grid). Each mask
    is upsampled to H x W (each token a block) and drawn over the frame with its own values: one colour
    scale per row, from the row's smallest to its largest value, which its colour bar shows.
    """
    t, _, height, width = frames.shape
    fig = _figure(figsize=(2.4 * t + 1.0, 2.5 * len(masks)))
    axes = fig.subplots(len(masks), t, squeeze=False)
    for row, (name, mask) in enumerate(masks.items()):
        m = mask.detach().float().cpu()
        up = nn.functional.interpolate(m[:, None], size=(height, width), mode="nearest")[:, 0]
        low, high = float(m.min()), float(m.max())
        if not high > low:  # a constant mask (one that is off is all ones): a scale around its value
            low, high = low - 0.5, high + 0.5
        image = None
        for i in range(t):
            ax = axes[row, i]
            ax.imshow(_image(frames[i]))
            image = ax.imshow(up[i].numpy(), cmap="magma", alpha=0.55, vmin=low, vmax=high)
            ax.set_axis_off()
            ax.set_title(f"{name}, frame {i + 1}", fontsize=8)
        fig.colorbar(image, ax=list(axes[row]), fraction=0.03, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


@torch.no_grad()
def kmm_attention(model: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """KMM's J x J attention at every call in ``model(video)``: (B, calls, J, J).

    One call per later frame (T - 1) for KIMNet, RPSTN and DKD; T for LSTMPM, which also calls KMM
    on the first frame.

    Works for any model whose temporal step calls a :class:`posemods.KMM` (KIMNet, RPSTN/DKD/LSTMPM
    with ``temporal="kmm"``): a forward hook records each call's inputs and re-runs KMM's forward
    on them with ``return_attention=True``. The model is not changed.
    """
    from posemods import KMM

    kmms = [m for m in model.modules() if isinstance(m, KMM)]
    if len(kmms) != 1:
        raise ValueError(f"model: expected exactly one KMM inside, found {len(kmms)}")
    found = []
    # forward() directly (not __call__), so the hook does not call itself.
    hook = kmms[0].register_forward_hook(lambda m, args, out: found.append(m.forward(*args, return_attention=True)[1]))
    try:
        model(video)
    finally:
        hook.remove()
    return torch.stack(found, dim=1)


@torch.no_grad()
def hkm_masks(model: nn.Module, video: torch.Tensor) -> dict[str, torch.Tensor]:
    """The human and keypoint masks (T, h, w) of the HKM inside ``model`` on the first clip of ``video``
    (B, T, 3, H, W), on the backbone's h x w token grid (VREMD's ``model.backbone.grid``).

    A forward hook reads HKM's output during ``model(video)``; the model is not changed. A
    ``ValueError`` for a model without exactly one HKM, or without a token grid.
    """
    from posemods import HKM

    hkms = [m for m in model.modules() if isinstance(m, HKM)]
    grid = getattr(getattr(model, "backbone", None), "grid", None)
    if len(hkms) != 1 or grid is None:
        raise ValueError(f"model: expected exactly one HKM and a backbone with a token grid, found {len(hkms)} HKMs")
    found = []
    hook = hkms[0].register_forward_hook(lambda m, args, out: found.append(out))
    try:
        model(video)
    finally:
        hook.remove()
    t = video.shape[1]
    return {
        "human mask": found[0].human_mask[0].reshape(t, *grid).float(),
        "keypoint mask": found[0].keypoint_mask[0].reshape(t, *grid).float(),
    }


def save(fig, path) -> None:
    """Write the figure as a PNG (through Agg, whatever the session's backend)."""
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------------------------------------------------
# Frames in, predictions out: what the command runs.


def read_video(path: str | Path, start: int = 0, count: int | None = None) -> torch.Tensor:
    """Frames ``start .. start + count`` of ``path`` as uint8 (T, 3, H, W) RGB.

    ``path``: a folder of image files (read in name order), one image or animated GIF (through PIL,
    which matplotlib installs), or a video file (through torchcodec: ``pip install "posemods[video]"``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video: no file or folder {str(path)!r}")
    stop = None if count is None else start + count
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"video: no image files ({', '.join(IMAGE_SUFFIXES)}) in {str(path)!r}")
        frames = [_read_images(f)[0] for f in files[start:stop]]
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        frames = list(_read_images(path))[start:stop]
    else:
        decoders = optional_import("torchcodec.decoders", "video", "reading a video file")
        decoder = decoders.VideoDecoder(str(path))
        frames = list(decoder[start : len(decoder) if stop is None else min(stop, len(decoder))])
    if not frames:
        raise ValueError(f"video: {str(path)!r} has no frames from frame {start}")
    return torch.stack(frames)


def _read_images(path: Path) -> list[torch.Tensor]:
    """Every frame of one image file (one, or several for an animated GIF), uint8 (3, H, W) each."""
    import numpy as np

    Image = optional_import("PIL.Image", "viz", "reading frames")
    ImageSequence = optional_import("PIL.ImageSequence", "viz", "reading frames")
    with Image.open(path) as image:
        return [torch.from_numpy(np.array(f.convert("RGB"))).permute(2, 0, 1) for f in ImageSequence.Iterator(image)]


def fit_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 frames (T, 3, h, w) -> float (T, 3, H, W) in [0, 1] at ``size = (H, W)``: the centre crop of
    the frames' aspect ratio to H:W, resized (antialiased), as a model takes its input."""
    height, width = size
    h, w = frames.shape[-2:]
    crop_h, crop_w = min(h, round(w * height / width)), min(w, round(h * width / height))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = frames[..., top : top + crop_h, left : left + crop_w].float() / 255.0
    return nn.functional.interpolate(crop, size=(height, width), mode="bilinear", antialias=True).clamp(0, 1)


@torch.no_grad()
def predict_video(model: nn.Module, frames: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """Every frame's joints (T, J, 2), in the pixels of ``frames`` (T, 3, H, W), from a registered model
    (one built by :func:`posemods.create_model` or :func:`posemods.load_model`).

    A clip model (KIMNet, RPSTN, DKD, LSTMPM) runs the video whole, through its ``stream`` (the state
    carried frame to frame, as its test code does); a key-frame model (VREMD) runs one window of its
    clip length per frame, keyed on it, the first and last frames repeated at the ends.
    """
    from posemods.data.geometry import heatmap_to_crop
    from posemods.metrics import decode_heatmaps
    from posemods.models import get_model_spec

    config = getattr(model, "model_config", None)
    if not isinstance(config, dict):
        raise TypeError("model: expected a model built by posemods.create_model or load_model (it has no model_config)")
    spec = get_model_spec(config["name"])
    device = next(model.parameters()).device
    frames = frames.to(device)
    if spec.output == "clip":
        stream = getattr(model, "stream", None)
        if stream is not None:
            heatmaps = torch.cat(list(stream(frame[None] for frame in frames)))  # (T, J, h, w)
        else:
            heatmaps = model(frames[None])[0]
        heatmaps = heatmaps[:, : heatmaps.shape[1] - spec.extra_maps]
    else:
        length = config["clip_length"]
        key = spec.key_frame(length)
        index = (torch.arange(len(frames))[:, None] + torch.arange(length) - key).clamp(0, len(frames) - 1)
        heatmaps = torch.cat([model(frames[rows]) for rows in index.split(batch)])  # (T, J, h, w)
    coords, _ = decode_heatmaps(heatmaps.float())
    height, width = frames.shape[-2:]
    stride = (width / heatmaps.shape[-1], height / heatmaps.shape[-2])  # (x, y), as the points
    return heatmap_to_crop(coords, stride).cpu()


def build_parser(prog: str = "python -m posemods.visualize") -> argparse.ArgumentParser:
    from posemods._cli import add_debug_flag
    from posemods.training.config import DEVICES

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Draw a trained model's predictions, and its KMM attention or HKM masks where it has them.",
    )
    parser.add_argument("checkpoint", help="OUT/last.pt of posemods-train, or the OUT/last.safetensors beside it")
    parser.add_argument(
        "--video", help="frames to draw on: a folder of images, an image or GIF, or a video file (posemods[video]); "
        "default: the held-out clip --clip of the checkpoint's own data",
    )  # fmt: skip
    parser.add_argument("--out", default="pictures", help="folder for the pictures")
    parser.add_argument(
        "--format", choices=FORMATS, default="png",
        help="the predictions as a strip of frames (png), or an animation of every frame (gif; mp4 needs ffmpeg)",
    )  # fmt: skip
    parser.add_argument("--frames", type=int, default=None, help="frames of --video to use (default: the clip length)")
    parser.add_argument("--start", type=int, default=0, help="first frame of --video")
    parser.add_argument("--clip", type=int, default=0, help="which held-out clip to draw, without --video")
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second of a gif or mp4")
    parser.add_argument(
        "--layout", choices=tuple(SKELETONS), default=None,
        help="the joints' layout, for a weights file whose joint count several layouts share",
    )  # fmt: skip
    parser.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA when available")
    add_debug_flag(parser)
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m posemods.visualize") -> list[Path]:
    """Parse ``argv``, draw, print and return the paths written. A failure ends with one ``error:``
    line (exit 2 for arguments, 1 for the run; ``--debug``: the traceback), as every posemods command."""
    from posemods._cli import run

    parser = build_parser(prog)
    return run(parser, _draw, argv)


def _draw(args: argparse.Namespace) -> list[Path]:
    from posemods import HKM, KMM, load_model
    from posemods._cli import UsageError, check_writable_folder
    from posemods._serialization import is_safetensors
    from posemods.models import get_model_spec
    from posemods.training.checkpoint import read_checkpoint
    from posemods.training.config import check_machine

    check_machine(args.device)
    if not Path(args.checkpoint).is_file():
        raise UsageError("checkpoint", f"no such file {args.checkpoint!r}")
    if args.video is not None and not Path(args.video).exists():
        raise UsageError("--video", f"no file or folder {args.video!r}")
    for flag, value in (("--frames", args.frames), ("--start", args.start), ("--clip", args.clip)):
        if value is not None and (value < 0 or (flag == "--frames" and value == 0)):
            raise UsageError(
                flag, f"expected a {'positive' if flag == '--frames' else 'non-negative'} count, got {value}"
            )
    if not (math.isfinite(args.fps) and args.fps > 0):
        raise UsageError("--fps", f"expected a positive number, got {args.fps}")
    optional_import("matplotlib", "viz", "posemods-visualize")  # before any work, not after the model ran
    if args.format != "png":
        animation = optional_import("matplotlib.animation", "viz", "posemods-visualize")
        if not animation.writers.is_available(_WRITERS[args.format]):
            raise UsageError(
                "--format",
                f"{args.format} needs {_WRITERS[args.format]}, which is not installed here (matplotlib writes "
                "MP4 through the ffmpeg program); use --format gif or png",
            )
    out = check_writable_folder("--out", args.out)

    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    model = load_model(args.checkpoint, map_location=device)
    config = model.model_config
    spec = get_model_spec(config["name"])
    saved = None if is_safetensors(args.checkpoint) else read_checkpoint(args.checkpoint).get("config")
    layout = _layout(args, saved, config["num_joints"])
    name = f"{config['name']} ({config['variant']}, {config['preset']})"

    truth = visibility = None
    if args.video is not None:
        count = config["clip_length"] if args.frames is None else args.frames
        frames = fit_frames(read_video(args.video, args.start, count), tuple(config["input_size"]))
        source = f"{Path(args.video).name}, frames {args.start + 1}-{args.start + len(frames)}"
    elif saved is None:
        raise UsageError("--video", f"{args.checkpoint} holds weights only, not the run's data: give frames to draw on")
    else:
        clip = _held_out_clip(saved, spec, args.clip)
        frames, truth, visibility = clip["frames"], clip["joints"], clip["visibility"]
        truth = truth.masked_fill(clip["annotated"][..., None] == 0, float("nan"))
        source = f"held-out clip {args.clip} of {saved['data']}"
    prediction = predict_video(model, frames)

    written = []
    title = f"{name}: {source}"
    if args.format == "png":
        path = out / "predictions.png"
        save(plot_skeletons(frames, truth, prediction, layout, visibility, title), path)
    else:
        path = animate_skeletons(out / f"predictions.{args.format}", frames, prediction, layout, truth, visibility,
                                 title=name, fps=args.fps)  # fmt: skip
    written.append(path)
    # The clip the model was built and trained for (a shorter video repeats its last frame).
    window = frames[torch.arange(config["clip_length"]).clamp(max=len(frames) - 1)][None].to(device)
    if any(isinstance(m, KMM) for m in model.modules()):
        attention = kmm_attention(model, window)[0].mean(0).cpu()  # averaged over the clip's KMM calls
        save(plot_joint_attention(attention, layout, f"KMM attention, {name}"), out / "kmm_attention.png")
        written.append(out / "kmm_attention.png")
    if any(isinstance(m, HKM) for m in model.modules()):
        masks = hkm_masks(model, window)
        save(plot_token_masks(window[0].cpu(), masks, f"HKM masks, {name}"), out / "hkm_masks.png")
        written.append(out / "hkm_masks.png")
    for path in written:
        print(path)
    return written


def _layout(args: argparse.Namespace, saved: dict | None, num_joints: int) -> Skeleton:
    """The joints' layout: the checkpoint's data's, ``--layout``, or the one layout with that many joints."""
    from posemods._cli import UsageError
    from posemods.data import get_dataset_spec

    if args.layout is not None:
        layout = get_skeleton(args.layout)
    elif saved is not None:
        layout = get_dataset_spec(saved["data"]).skeleton
    else:
        fitting = [s for s in SKELETONS.values() if s.num_joints == num_joints]
        if len(fitting) != 1:
            raise UsageError(
                "--layout",
                f"{args.checkpoint} does not say its joints' layout, and {len(fitting)} layouts have "
                f"{num_joints} joints: give one of {', '.join(SKELETONS)}",
            )
        layout = fitting[0]
    if layout.num_joints != num_joints:
        raise UsageError("--layout", f"{layout.name} has {layout.num_joints} joints, the model {num_joints}")
    return layout


def _held_out_clip(saved: dict, spec, index: int) -> dict:
    """Clip ``index`` of the evaluation set of the run whose config is ``saved``."""
    from posemods._cli import UsageError
    from posemods.data import DatasetFilesError
    from posemods.training import TrainConfig, build_datasets

    config = TrainConfig.from_dict(saved)
    try:
        _, eval_set, _ = build_datasets(config, spec, train=False)
    except DatasetFilesError as error:
        raise DatasetFilesError(f"{error}; or give --video to draw on other frames") from error
    if index >= len(eval_set):
        raise UsageError("--clip", f"the held-out set of {config.data} has {len(eval_set)} clips, got clip {index}")
    return eval_set[index]


def cli() -> int:
    """The ``posemods-visualize`` console script."""
    main(prog="posemods-visualize")
    return 0


if __name__ == "__main__":
    main()

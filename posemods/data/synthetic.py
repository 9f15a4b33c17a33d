"""SyntheticPoseVideos: articulated stick people on textured backgrounds, made on the fly.

Nothing can be downloaded here, so this is the data the library shows learning on. Every clip is a
deterministic function of ``(seed, index)``. Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from posemods._shapes import expect_positive, expect_size
from posemods.data.clip import make_clip
from posemods.data.heatmaps import expect_sigma, gaussian_heatmaps
from posemods.data.hiding import HiddenFrames, limb_points
from posemods.data.registry import DatasetOptions, DatasetSpec, register_dataset
from posemods.skeletons import Skeleton, get_skeleton

# Body proportions in units of L (about 1.12 x the person's height): pelvis-to-neck torso, limbs,
# and the half-widths across the shoulders and hips. Plausible adult ratios.
_TORSO, _NECK_TO_HEAD, _HEAD_RADIUS = 0.30, 0.09, 0.055
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.16, 0.14, 0.22, 0.22
_SHOULDER_HALF, _HIP_HALF = 0.10, 0.06
# Thickness (capsule radius) of each drawn part, in units of L.
_R_TORSO, _R_ARM, _R_LEG = 0.07, 0.025, 0.035
# Joint-angle ranges in degrees (0 = pointing down the body, positive = away from the body's midline).
_RANGES = {
    "shoulder": (-20.0, 170.0),
    "elbow": (0.0, 140.0),
    "hip": (-25.0, 70.0),
    "knee": (0.0, 120.0),
    "lean": (-15.0, 15.0),
    "head_tilt": (-20.0, 20.0),
}


def _direction(angle_deg: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 2): 0 degrees points down the image, 90 to the right."""
    a = np.radians(angle_deg)
    return np.stack((np.sin(a), np.cos(a)), axis=-1)


class _Body:
    """One person's random proportions, colours and motion; ``points(times)`` poses it."""

    def __init__(self, rng: np.random.Generator, frame_size: tuple[int, int], height: float, center: np.ndarray):
        w = frame_size[1]  # frame_size is (H, W)
        self.L = height / 0.89  # head top to ankles is about 0.89 L
        self.lengths = {
            k: v * rng.uniform(0.9, 1.1)
            for k, v in (
                ("torso", _TORSO),
                ("neck", _NECK_TO_HEAD),
                ("upper_arm", _UPPER_ARM),
                ("forearm", _FOREARM),
                ("thigh", _THIGH),
                ("shin", _SHIN),
                ("shoulder", _SHOULDER_HALF),
                ("hip", _HIP_HALF),
            )
        }
        self.facing = 1.0 if rng.random() < 0.5 else -1.0  # +1: facing the camera, the person's left on image right
        self.width_factor = rng.uniform(0.5, 1.0)  # turned partly away: narrower shoulders and hips
        self.center0 = center
        speed = rng.uniform(0.5, 1.5)
        self.velocity = rng.normal(0, 0.008 * w, size=2)
        self.sway = (rng.uniform(0, 0.01 * w, size=2), rng.uniform(0.1, 0.4), rng.uniform(0, 2 * math.pi))
        self.scale_wobble = (rng.uniform(0, 0.05), rng.uniform(0.1, 0.4), rng.uniform(0, 2 * math.pi))
        # Draw the trajectory parameters now, so posing at any times is deterministic.
        self._signals = {name: self._trajectory(rng, *_RANGES[name], speed * 0.5) for name in ("lean", "head_tilt")}
        for part in ("shoulder", "elbow", "hip", "knee"):
            for side in ("left", "right"):
                self._signals[f"{side}_{part}"] = self._trajectory(rng, *_RANGES[part], speed)
        base = rng.uniform(0.15, 0.9, size=3)
        self.colors = {
            "torso": base,
            # Left limbs are lighter and right limbs darker in every clip: the cue that makes left
            # and right learnable (so do not mirror these clips without relabelling).
            "left": np.clip(base * 0.5 + 0.5 + rng.uniform(-0.05, 0.05, 3), 0, 1),
            "right": np.clip(base * 0.45 + rng.uniform(-0.05, 0.05, 3), 0, 1),
            "head": np.clip(np.array([0.85, 0.65, 0.5]) * rng.uniform(0.5, 1.1) + rng.uniform(-0.1, 0.1, 3), 0, 1),
        }
        self.limb_jitter = {k: rng.uniform(-0.08, 0.08, 3) for k in ("arm", "forearm", "thigh", "shin")}

    @staticmethod
    def _trajectory(rng: np.random.Generator, lo: float, hi: float, speed: float):
        """A random smooth angle trajectory in [lo, hi]: an offset plus two sinusoids whose sum stays in range."""
        c = rng.uniform(-0.5, 0.5)
        budget = 1.0 - abs(c)
        a1, a2 = budget * rng.uniform(0.3, 0.7), budget * rng.uniform(0.0, 0.3)
        w1, w2 = speed * rng.uniform(0.15, 0.5), speed * rng.uniform(0.4, 1.0)
        p1, p2 = rng.uniform(0, 2 * math.pi, size=2)
        return lambda t: lo + (hi - lo) * (c + a1 * np.sin(w1 * t + p1) + a2 * np.sin(w2 * t + p2) + 1) / 2

    def points(self, times: np.ndarray) -> dict[str, np.ndarray]:
        """Named body points, each (len(times), 2) in frame pixels."""
        ang = {k: f(times) for k, f in self._signals.items()}
        amp, freq, phase = self.scale_wobble
        L = self.L * (1 + amp * np.sin(freq * times + phase))[:, None]
        sway_amp, sway_f, sway_p = self.sway
        pelvis = self.center0 + self.velocity * times[:, None] + sway_amp * np.sin(sway_f * times + sway_p)[:, None]
        lean = ang["lean"]
        up = -_direction(lean)
        right = _direction(lean + 90.0)
        side = {"left": self.facing, "right": -self.facing}  # image-right sign of each body side
        ln = self.lengths
        p = {"pelvis": pelvis}
        p["neck"] = pelvis + up * ln["torso"] * L
        p["belly"] = pelvis + up * 0.4 * ln["torso"] * L
        head_dir = -_direction(lean + ang["head_tilt"])
        p["head"] = p["neck"] + head_dir * ln["neck"] * L
        p["face"] = p["head"]
        p["head_top"] = p["head"] + head_dir * _HEAD_RADIUS * L
        p["head_bottom"] = p["neck"] + head_dir * 0.03 * L
        p["nose"] = p["head"] - head_dir * 0.012 * L
        for s, sign in side.items():
            out = right * sign  # away from the midline on this side
            p[f"{s}_eye"] = p["head"] + head_dir * 0.015 * L + out * 0.02 * L
            p[f"{s}_ear"] = p["head"] + out * 0.045 * L * self.width_factor
            p[f"{s}_shoulder"] = p["neck"] - up * 0.02 * L + out * ln["shoulder"] * L * self.width_factor
            p[f"{s}_hip"] = pelvis + out * ln["hip"] * L * self.width_factor
            upper = lean + sign * ang[f"{s}_shoulder"]
            p[f"{s}_elbow"] = p[f"{s}_shoulder"] + _direction(upper) * ln["upper_arm"] * L
            p[f"{s}_wrist"] = p[f"{s}_elbow"] + _direction(upper + sign * ang[f"{s}_elbow"]) * ln["forearm"] * L
            thigh = lean + sign * ang[f"{s}_hip"]
            p[f"{s}_knee"] = p[f"{s}_hip"] + _direction(thigh) * ln["thigh"] * L
            p[f"{s}_ankle"] = p[f"{s}_knee"] + _direction(thigh - sign * ang[f"{s}_knee"]) * ln["shin"] * L
        p["_L"] = np.repeat(L, 2, axis=1)
        return p

    def parts(
        self, p: dict[str, np.ndarray]
    ) -> list[tuple[tuple[str, str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Capsules to draw, back to front: ((start point, end point) names, start (N, 2), end (N, 2),
        radius (N,), colour (3,)). The names say which limb a capsule belongs to (``HiddenFrames``)."""
        L = p["_L"][:, 0]
        c = self.colors
        parts = []

        def add(a: str, b: str, radius, color, start=None, end=None) -> None:
            parts.append(((a, b), p[a] if start is None else start, p[b] if end is None else end, radius, color))

        for s in ("left", "right"):
            add(f"{s}_hip", f"{s}_knee", _R_LEG * L, c[s] + self.limb_jitter["thigh"])
            add(f"{s}_knee", f"{s}_ankle", _R_LEG * 0.85 * L, c[s] + self.limb_jitter["shin"])
        mid_sh = (p["left_shoulder"] + p["right_shoulder"]) / 2
        mid_hip = (p["left_hip"] + p["right_hip"]) / 2
        add("pelvis", "neck", _R_TORSO * L * self.width_factor + 0.01 * L, c["torso"], mid_hip, mid_sh)
        add("left_shoulder", "right_shoulder", _R_ARM * 1.3 * L, c["torso"])
        add("left_hip", "right_hip", _R_LEG * L, c["torso"])
        add("neck", "head", _R_ARM * L, c["head"])
        for s in ("left", "right"):
            add(f"{s}_shoulder", f"{s}_elbow", _R_ARM * L, c[s] + self.limb_jitter["arm"])
            add(f"{s}_elbow", f"{s}_wrist", _R_ARM * 0.85 * L, c[s] + self.limb_jitter["forearm"])
        add("head", "head", _HEAD_RADIUS * L, c["head"])
        return [(names, a, b, r, np.clip(col, 0, 1)) for names, a, b, r, col in parts]


def _draw_capsule(img: torch.Tensor, a: np.ndarray, b: np.ndarray, radius: np.ndarray, color: np.ndarray) -> None:
    """Alpha-blend anti-aliased capsules (one per frame) into img (N, 3, H, W), within their bounding box."""
    h, w = img.shape[-2:]
    lo = np.floor(np.minimum(a, b).min(0) - radius.max() - 1).astype(int)
    hi = np.ceil(np.maximum(a, b).max(0) + radius.max() + 2).astype(int)
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], w), min(hi[1], h)
    if x0 >= x1 or y0 >= y1:
        return
    a_t, b_t = torch.from_numpy(a).float(), torch.from_numpy(b).float()
    r = torch.from_numpy(np.asarray(radius, dtype=np.float32))
    xs = torch.arange(x0, x1, dtype=torch.float32)[None, None, :] - a_t[:, 0, None, None]
    ys = torch.arange(y0, y1, dtype=torch.float32)[None, :, None] - a_t[:, 1, None, None]
    d = b_t - a_t
    len2 = (d * d).sum(-1).clamp_min(1e-6)[:, None, None]
    t = ((xs * d[:, 0, None, None] + ys * d[:, 1, None, None]) / len2).clamp(0, 1)
    dist = torch.hypot(xs - t * d[:, 0, None, None], ys - t * d[:, 1, None, None])
    alpha = (r[:, None, None] + 0.5 - dist).clamp(0, 1).unsqueeze(1)
    region = img[:, :, y0:y1, x0:x1]
    col = torch.from_numpy(np.asarray(color, dtype=np.float32))[None, :, None, None]
    region.mul_(1 - alpha).add_(alpha * col)


def _texture(rng: np.random.Generator, size: tuple[int, int]) -> torch.Tensor:
    """A (3, H, W) background for ``size = (H, W)``: three octaves of smooth colour noise plus blobs, in [0, 1]."""
    h, w = size
    # Octaves are summed on a coarse grid and upsampled once: one full-size interpolation, not three.
    coarse = (max(h // 4, 1), max(w // 4, 1))
    noise = torch.from_numpy(rng.uniform(0.2, 0.8, size=(1, 3, 1, 1))).float().expand(1, 3, *coarse).clone()
    for cells, amp in ((4, 0.35), (16, 0.15), (64, 0.05)):
        octave = torch.from_numpy(rng.standard_normal((1, 3, cells, cells))).float()
        noise += amp * F.interpolate(octave, size=coarse, mode="bicubic", align_corners=False)
    img = F.interpolate(noise, size=(h, w), mode="bilinear", align_corners=False)[0]
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    for _ in range(rng.integers(2, 6)):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.03, 0.15) * w, rng.uniform(0.03, 0.15) * h
        inside = (((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1).float()
        col = torch.from_numpy(rng.uniform(0, 1, size=(3, 1, 1))).float()
        img = img * (1 - inside) + col * inside
    return img.clamp(0, 1)


class SyntheticPoseVideos(torch.utils.data.Dataset):
    """Deterministic synthetic pose clips, generated on the fly on CPU.

    Each item is a clip following :mod:`posemods.data.clip`'s contract: a person drawn as thick,
    anti-aliased limbs (left limbs lighter, right limbs darker, colours varying per clip) whose
    joint angles follow random smooth trajectories, with global translation, sway and scale change,
    on a textured background. The frame is the crop: ``affine`` is the identity and
    ``joints_image`` is ``joints`` (kept in float64, ``joints`` is its float32 rounding).
    Visibility is 0 for joints covered by an occluder box or outside the frame (self-occlusion
    between limbs is not modelled); ``annotated`` is 1 everywhere, so occluded joints are trained on
    and can be scored separately with ``annotated - visibility``.

    Args:
        num_clips: length of the dataset.
        clip_length: T.
        frame_size: (H, W) of the frames (torch's order, as every grid size in posemods).
        heatmap_size: (h, w) of the targets.
        layout: ``"penn_action"`` (13 joints, default), ``"jhmdb"`` (15), ``"coco"`` or ``"posetrack"`` (17).
        sigma: heatmap Gaussian sigma in heatmap pixels.
        seed: clip ``i`` is a function of ``(seed, i)`` only.
        distractors: each clip has 0 to this many other people, drawn behind the person.
        occluders: this many boxes per clip, each centred near a random joint, in one random frame
            (temporal occlusion) or in frames 2..T (spatial occlusion), like KIMNet section 4.5.
        occluder_size: side of the square occluders in pixels (the paper's 40 at 256x256).
        motion_blur: the largest shutter time in frame intervals; each clip draws a shutter in
            [0, motion_blur] and averages 4 sub-frame renders of the moving people. 0 turns it off.
        hidden: a :class:`~posemods.data.hiding.HiddenFrames`: the person (or one limb) is not drawn at
            all in a gap of consecutive frames, its pixels showing what is behind it. Its joints keep
            their labels and targets (a model must still find them) and get visibility 0;
            :meth:`hidden_joints` says which. ``None`` (default) hides nothing, and the clips are
            exactly those of a dataset without the argument.
        person_height: the range the person's height is drawn from, as a fraction of H.
        center_jitter: the person's centre is drawn within this fraction of (W, H) around the frame's
            centre. With the defaults a per-frame model can guess a joint it cannot see from where
            people usually are; wider placement (``0.3``) takes that guess away.
    """

    def __init__(
        self,
        num_clips: int = 1000,
        clip_length: int = 5,
        frame_size: tuple[int, int] = (256, 256),
        heatmap_size: tuple[int, int] = (64, 64),
        layout: str | Skeleton = "penn_action",
        sigma: float = 2.0,
        seed: int = 0,
        distractors: int = 0,
        occluders: int = 0,
        occluder_size: int = 40,
        motion_blur: float = 0.0,
        hidden: HiddenFrames | None = None,
        person_height: tuple[float, float] = (0.55, 0.8),
        center_jitter: float = 0.08,
    ) -> None:
        expect_positive("num_clips", num_clips)
        expect_positive("clip_length", clip_length)
        for name, value in (("distractors", distractors), ("occluders", occluders)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected a non-negative integer, got {value!r}")
        sigma = expect_sigma(sigma)
        if not motion_blur >= 0:
            raise ValueError(f"motion_blur: expected a non-negative shutter time, got {motion_blur!r}")
        self.num_clips = num_clips
        self.clip_length = clip_length
        self.frame_size = expect_size("frame_size", frame_size)
        self.heatmap_size = expect_size("heatmap_size", heatmap_size)
        self.skeleton = get_skeleton(layout)
        self.sigma = sigma
        self.seed = seed
        self.distractors = distractors
        self.occluders = occluders
        self.occluder_size = occluder_size
        self.motion_blur = float(motion_blur)
        if hidden is not None and not isinstance(hidden, HiddenFrames):
            raise TypeError(f"hidden: expected a HiddenFrames or None, got {type(hidden).__name__}")
        self.hidden = hidden
        low, high = (float(v) for v in person_height)
        if not 0 < low <= high:
            raise ValueError(f"person_height: expected (low, high) with 0 < low <= high, got {person_height!r}")
        if not 0 <= center_jitter <= 0.5:
            raise ValueError(f"center_jitter: expected a fraction of the frame in [0, 0.5], got {center_jitter!r}")
        self.person_height, self.center_jitter = (low, high), float(center_jitter)

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the frames, the same attribute the readers have."""
        return self.frame_size

    def set_epoch(self, epoch: int) -> None:
        """Nothing changes between epochs (clip i is fixed by the seed); here so loops treat datasets alike."""

    def __len__(self) -> int:
        return self.num_clips

    def _hiding(self, index: int) -> tuple[np.ndarray, set[str] | None, set[tuple[str, str]] | None]:
        """``(hidden frames (T,) bool, hidden points, hidden capsules)``; ``None`` sets mean everything.

        Drawn from a stream of its own (``(seed, index, 1)``), so hiding changes nothing else of a clip.
        """
        if self.hidden is None:
            return np.zeros(self.clip_length, dtype=bool), set(), set()
        frames, limb = self.hidden.draw(np.random.default_rng([self.seed, index, 1]), self.clip_length)
        if limb is None:
            return frames, None, None
        points, segments = limb_points(limb)
        return frames, points, segments

    def hidden_joints(self, index: int) -> torch.Tensor:
        """(T, J) bool: the joints of clip ``index`` that ``hidden`` removed from the frame."""
        if not 0 <= index < self.num_clips:
            raise IndexError(f"index {index} out of range for {self.num_clips} clips")
        frames, points, _ = self._hiding(index)
        names = self.skeleton.joint_names
        in_limb = torch.tensor([points is None or n in points for n in names])
        return torch.from_numpy(frames)[:, None] & in_limb[None, :]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self._render(index, silhouette=False)[0]

    def silhouette(self, index: int) -> torch.Tensor:
        """(T, H, W) float32 in [0, 1]: how much of each pixel of clip ``index`` shows the person.

        The coverage of the person's drawn capsules, anti-aliased and motion-blurred as they are
        drawn; the parts ``hidden`` removes are not in it, and occluder boxes cut it. Distractors are
        drawn behind the person, so they never cover it. The clip itself is unchanged by asking.
        """
        return self._render(index, silhouette=True)[1]

    def _render(self, index: int, silhouette: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """The clip of ``index`` and, with ``silhouette``, the person's coverage (T, H, W)."""
        if not 0 <= index < self.num_clips:
            raise IndexError(f"index {index} out of range for {self.num_clips} clips")
        rng = np.random.default_rng([self.seed, index])
        h, w = self.frame_size
        t_count = self.clip_length
        times = np.arange(t_count, dtype=np.float64)
        background = _texture(rng, self.frame_size)

        jitter = self.center_jitter
        center = np.array([w / 2, h / 2]) + rng.uniform(-jitter, jitter, size=2) * np.array([w, h])
        person = _Body(rng, self.frame_size, rng.uniform(*self.person_height) * h, center)
        others = [
            _Body(rng, self.frame_size, rng.uniform(0.4, 0.8) * h, rng.uniform(0.1, 0.9, size=2) * np.array([w, h]))
            for _ in range(int(rng.integers(0, self.distractors + 1)))
        ]
        shutter = rng.uniform(0, self.motion_blur) if self.motion_blur > 0 else 0.0
        subframes = 4 if shutter > 0 else 1
        offsets = np.linspace(-shutter / 2, shutter / 2, subframes) if subframes > 1 else np.zeros(1)
        render_times = (times[:, None] + offsets[None, :]).reshape(-1)

        canvas = background.expand(t_count * subframes, 3, h, w).clone()
        # The person's coverage: its capsules drawn in white on black, one channel.
        cover = torch.zeros(t_count * subframes, 1, h, w) if silhouette else None
        hidden_frames, _, hidden_segments = self._hiding(index)
        shown = np.repeat(~hidden_frames, subframes)  # per render: False where the hidden parts are gone
        shown_at = torch.from_numpy(np.flatnonzero(shown))
        for body in (*others, person):
            targets = (canvas,) if body is not person or cover is None else (canvas, cover)
            for names, a, b, r, col in body.parts(body.points(render_times)):
                hide = body is person and hidden_frames.any() and (hidden_segments is None or names in hidden_segments)
                for image in targets:
                    color = col if image is canvas else np.ones(1)
                    if not hide:
                        _draw_capsule(image, a, b, r, color)
                    elif len(shown_at):
                        part = image[shown_at]
                        _draw_capsule(part, a[shown], b[shown], r[shown], color)
                        image[shown_at] = part
        frames = canvas.view(t_count, subframes, 3, h, w).mean(1)
        if cover is not None:
            cover = cover.view(t_count, subframes, h, w).mean(1)

        pts = person.points(times)
        names = self.skeleton.joint_names
        joints = torch.from_numpy(np.stack([pts[n] for n in names], axis=1))  # (T, J, 2)
        visible = (
            (joints[..., 0] >= -0.5)
            & (joints[..., 0] <= w - 0.5)
            & (joints[..., 1] >= -0.5)
            & (joints[..., 1] <= h - 0.5)
        )
        if person.facing < 0:  # seen from behind: the face's points are hidden
            for j, n in enumerate(names):
                if n in ("nose", "left_eye", "right_eye"):
                    visible[:, j] = False
        visible &= ~self.hidden_joints(index)
        for box, in_frame in self._occluders(rng, joints):
            x0, y0, x1, y1 = box
            patch = torch.from_numpy(rng.uniform(0, 1, size=(3, 1, 1))).float()
            patch = (patch + 0.1 * torch.from_numpy(rng.standard_normal((3, y1 - y0, x1 - x0))).float()).clamp(0, 1)
            for t in np.flatnonzero(in_frame):
                frames[t, :, y0:y1, x0:x1] = patch
                if cover is not None:
                    cover[t, y0:y1, x0:x1] = 0.0
                covered = (
                    (joints[t, :, 0] >= x0 - 0.5)
                    & (joints[t, :, 0] <= x1 - 0.5)
                    & (joints[t, :, 1] >= y0 - 0.5)
                    & (joints[t, :, 1] <= y1 - 0.5)
                )
                visible[t] &= ~covered

        everything = np.stack([v for k, v in pts.items() if not k.startswith("_")], axis=1)
        margin = (_HEAD_RADIUS * pts["_L"][:, :1])[:, None, :]
        lo = np.clip((everything - margin).min(1), 0, None)
        hi = np.minimum((everything + margin).max(1), np.array([w - 1, h - 1]))
        bbox = torch.from_numpy(np.concatenate((lo, hi), axis=1))

        annotated = torch.ones(t_count, len(names))
        heatmaps, target_weight = gaussian_heatmaps(joints, annotated, self.heatmap_size, self.frame_size, self.sigma)
        torso = (self.skeleton.index(self.skeleton.torso[0]), self.skeleton.index(self.skeleton.torso[1]))
        clip = make_clip(
            frames=frames.clamp(0, 1),
            joints=joints,
            visibility=visible.float(),
            annotated=annotated,
            heatmaps=heatmaps,
            target_weight=target_weight,
            affine=torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64),
            joints_image=joints,
            bbox=bbox,
            torso=torso,
        )
        return clip, (None if cover is None else cover.clamp(0, 1))

    def _occluders(self, rng: np.random.Generator, joints: torch.Tensor):
        """Yield (box (x0, y0, x1, y1) in whole pixels, frames it appears in (T,) bool) per occluder."""
        t_count, num_joints = joints.shape[:2]
        h, w = self.frame_size
        side = self.occluder_size
        for _ in range(self.occluders):
            in_frame = np.zeros(t_count, dtype=bool)
            if t_count > 1 and rng.random() < 0.5:
                in_frame[1:] = True  # spatial occlusion: frames 2..T, the first frame stays clean
            else:
                in_frame[rng.integers(0, t_count)] = True  # temporal occlusion: one frame
            first = int(np.flatnonzero(in_frame)[0])
            target = joints[first, int(rng.integers(0, num_joints))].numpy()
            # The joint lands anywhere in the box (but inside it, so it is covered in its first frame): a
            # box centred on its joint would tell the model where the hidden joint is.
            cx, cy = target + rng.uniform(-0.45, 0.45, size=2) * side
            x0 = int(np.clip(round(cx - side / 2), 0, max(w - side, 0)))
            y0 = int(np.clip(round(cy - side / 2), 0, max(h - side, 0)))
            yield (x0, y0, min(x0 + side, w), min(y0 + side, h)), in_frame


#: The evaluation clips' seed is the run's seed plus this, so they never repeat a training clip.
EVAL_SEED_OFFSET = 1_000


def _build(options: DatasetOptions, train: bool) -> SyntheticPoseVideos:
    extra = options.extra
    return SyntheticPoseVideos(
        num_clips=extra["train_clips"] if train else extra["eval_clips"],
        clip_length=options.clip_length,
        frame_size=options.input_size,
        heatmap_size=options.heatmap_size,
        sigma=options.sigma,
        seed=options.seed if train else options.seed + EVAL_SEED_OFFSET,
        distractors=extra["distractors"],
        occluders=extra["occluders"],
        occluder_size=extra["occluder_size"],
        motion_blur=extra["motion_blur"],
    )


register_dataset(
    DatasetSpec(
        "synthetic",
        _build,
        layout="penn_action",  # SyntheticPoseVideos' default layout
        protocol="pck",
        description="stick people made on the fly, 13 joints, nothing to download",
        split_rule=f"clips of two seeds, --seed for training and --seed + {EVAL_SEED_OFFSET} for evaluation",
        # SyntheticPoseVideos' own defaults, and the held-out clips a run scores by default.
        options={
            "train_clips": 1000,
            "eval_clips": 200,
            "occluders": 0,
            "occluder_size": 40,
            "distractors": 0,
            "motion_blur": 0.0,
        },
    )
)

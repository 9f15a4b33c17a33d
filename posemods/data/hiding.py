"""HiddenFrames: the person, or one of its limbs, completely gone from a few consecutive frames.

The synthetic generator knows every joint and every drawn part, so it can remove them exactly: in a
hidden frame the hidden parts are simply not drawn, and the pixels show whatever is behind them (the
background, or another person). Unlike an occluder box, nothing in the frame marks where the hidden
joints are: only an earlier frame can tell. This is the test a temporal module exists to pass.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: What a gap hides: ``"person"`` every drawn part and joint; ``"limb"`` one random arm (elbow and
#: wrist) or leg (knee and ankle), the rest of the person staying in view; ``"either"`` one of the
#: two, drawn per clip with equal odds.
HIDDEN_PARTS = ("person", "limb", "either")

# A limb is hidden with the two capsules below its root joint; the root (shoulder, hip) sits on the
# torso, which stays drawn, so it stays visible.
_LIMBS = {
    "arm": (("shoulder", "elbow"), ("elbow", "wrist")),
    "leg": (("hip", "knee"), ("knee", "ankle")),
}


@dataclasses.dataclass(frozen=True)
class HiddenFrames:
    """Which frames of a clip hide what: one gap of ``g`` consecutive frames, ``g`` drawn from ``gaps``.

    The gap never covers frame 1 (the recursion starts from it) and ends inside the clip. Each clip
    draws from its own random stream, seeded by the dataset's ``(seed, index)``, so the same clip
    always hides the same frames and parts, whatever else the dataset draws.

    Args:
        gaps: the gap lengths to draw from (uniformly), e.g. ``(1, 2, 3)``.
        parts: ``"person"``, ``"limb"`` or ``"either"`` (:data:`HIDDEN_PARTS`).
        probability: the share of clips that have a gap; the others hide nothing.
        first_frame: where every gap starts (0-based, at least 1) instead of a random frame, e.g. a
            clip's key frame, to degrade that frame alone. ``None`` (default) draws it. The random
            stream draws the same numbers either way, so only the gap's place changes.
    """

    gaps: tuple[int, ...] = (1, 2, 3)
    parts: str = "person"
    probability: float = 1.0
    first_frame: int | None = None

    def __post_init__(self) -> None:
        gaps = tuple(self.gaps)
        if not gaps or any(isinstance(g, bool) or not isinstance(g, (int, np.integer)) or g < 1 for g in gaps):
            raise ValueError(f"gaps: expected a non-empty sequence of positive integers, got {self.gaps!r}")
        object.__setattr__(self, "gaps", tuple(int(g) for g in gaps))
        if self.parts not in HIDDEN_PARTS:
            raise ValueError(f"parts: expected one of {HIDDEN_PARTS}, got {self.parts!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability: expected a number in [0, 1], got {self.probability!r}")
        first = self.first_frame
        if first is not None and (isinstance(first, bool) or not isinstance(first, (int, np.integer)) or first < 1):
            raise ValueError(f"first_frame: expected None or an integer >= 1 (frame 1 is never hidden), got {first!r}")

    def draw(self, rng: np.random.Generator, num_frames: int) -> tuple[np.ndarray, str | None]:
        """``(hidden (T,) bool, limb)``: the frames of the gap, and the limb it hides (``"left_arm"``...).

        ``limb`` is ``None`` when the whole person is hidden or there is no gap. A clip of T frames
        holds at most a gap of T - 1; longer draws are cut to fit, and so is a gap from
        ``first_frame``, which must lie inside the clip.
        """
        hidden = np.zeros(num_frames, dtype=bool)
        has_gap = rng.random() < self.probability
        gap = int(rng.choice(self.gaps))
        start = int(rng.integers(1, max(num_frames - gap, 1) + 1))
        side, kind = ("left", "right")[int(rng.integers(0, 2))], tuple(_LIMBS)[int(rng.integers(0, 2))]
        whole = {"person": True, "limb": False, "either": bool(rng.random() < 0.5)}[self.parts]
        if not has_gap or num_frames < 2:
            return hidden, None
        if self.first_frame is not None:
            if self.first_frame >= num_frames:
                raise ValueError(
                    f"first_frame: expected a frame of the {num_frames}-frame clip, got {self.first_frame}"
                )
            start = int(self.first_frame)
        hidden[start : start + gap] = True
        return hidden, (None if whole else f"{side}_{kind}")


def limb_points(limb: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The body points (``"left_elbow"``...) and drawn capsules (pairs of points) that ``limb`` hides."""
    side, kind = limb.split("_")
    segments = {(f"{side}_{a}", f"{side}_{b}") for a, b in _LIMBS[kind]}
    return {b for _, b in segments}, segments

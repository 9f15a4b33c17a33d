"""KMM in a few lines: predict this frame's heatmaps from the last frame's.

Runs on CPU in seconds. On a CUDA machine with triton installed, backend "auto" uses the fused kernels.

    python examples/kmm_demo.py
"""

import argparse
import time

import torch

import posemods

PENN_JOINTS = [
    "head",
    "l_sho",
    "r_sho",
    "l_elb",
    "r_elb",
    "l_wri",
    "r_wri",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ank",
    "r_ank",
]


def gaussian_heatmaps(centres: torch.Tensor, size: tuple[int, int], sigma: float = 2.0) -> torch.Tensor:
    """centres (B, J, 2) in pixels (x, y) -> (B, J, H, W) Gaussian heatmaps."""
    ys, xs = torch.arange(size[0]).float(), torch.arange(size[1]).float()
    dx = xs[None, None, None, :] - centres[..., 0, None, None]
    dy = ys[None, None, :, None] - centres[..., 1, None, None]
    return torch.exp(-(dx**2 + dy**2) / (2 * sigma**2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    joints, size = len(PENN_JOINTS), (64, 48)

    # A toy clip: joints drift between frames, and the features carry each joint's blob in its own
    # random channel mix, as a pose encoder's would.
    centres_prev = torch.rand(args.batch, joints, 2) * torch.tensor([size[1] - 1.0, size[0] - 1.0])
    centres_cur = centres_prev + torch.randn_like(centres_prev)
    heat_prev, heat_cur = gaussian_heatmaps(centres_prev, size), gaussian_heatmaps(centres_cur, size)
    mixing = torch.randn(args.channels, joints)
    encode = lambda h: torch.einsum("cj,bjhw->bchw", mixing, h) + 0.1 * torch.randn(args.batch, args.channels, *size)
    feat_prev, feat_cur = encode(heat_prev), encode(heat_cur)
    feat_prev, feat_cur, heat_prev, heat_cur = (t.to(device) for t in (feat_prev, feat_cur, heat_prev, heat_cur))

    kmm = posemods.KMM(args.channels, joints).to(device)
    print(kmm)
    optimizer = torch.optim.Adam(kmm.parameters(), lr=1e-2)
    start = time.perf_counter()
    for step in range(args.steps + 1):
        prior, attn = kmm(feat_prev, feat_cur, heat_prev, return_attention=True)
        loss = (prior - heat_cur).square().mean()
        if step % 50 == 0:
            # What fraction of each joint's attention lands on itself in the previous frame.
            self_attention = attn.diagonal(dim1=1, dim2=2).mean().item()
            print(f"step {step:4d}  heatmap MSE {loss.item():.5f}  mean self-attention {self_attention:.2f}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    print(
        f"{args.steps} training steps of KMM at B={args.batch}, C={args.channels}, {size[0]}x{size[1]}: "
        f"{elapsed:.1f} s on {device}"
    )
    row = attn[0, PENN_JOINTS.index("r_wri")]
    top = row.topk(3)
    print(
        "right wrist at t+1 attends to: "
        + ", ".join(f"{PENN_JOINTS[i]} {w:.2f}" for w, i in zip(top.values, top.indices))
    )


if __name__ == "__main__":
    main()

"""Evidence that each module does its job as a layer: ``python -m benchmarks.evidence``.

    python -m benchmarks.evidence                       # every experiment at its CPU size (hours on 2 cores)
    python -m benchmarks.evidence hidden_frames         # one experiment
    python -m benchmarks.evidence --quick               # seconds each: a smoke test, not a result
    python -m benchmarks.evidence hidden_frames --set steps=3000 size=256,256 --device cuda   # paper size

Each experiment is a module of this package with ``DEFAULTS`` and ``QUICK`` (settings; ``--set key=value``
overrides either) and ``run(settings, seeds, device, out) -> dict``, which trains, evaluates and writes
``<out>/<name>.json``, ``.md`` and its pictures. Results of the real runs are committed under
``benchmarks/results/evidence/``; ``--quick`` writes to a temporary folder unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.evidence.common import RESULTS, parse_settings

#: name -> what it shows; each name is a module of this package.
EXPERIMENTS = {
    "hidden_frames": "temporal modules (KMM, JRPSP, DKD) on frames that hide the person or a limb",
    "kmm_attention": "what KMM's J x J attention learns, and KMM alone on ideal joint maps",
    "corrupted_key_frame": "BMD's operators (DC, DA, DCA, DCA+BS) when VREMD's key frame is degraded",
    "hkm_masks": "whether HKM's human and keypoint masks find the person and its joints",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evidence", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="*", choices=[[], *EXPERIMENTS], metavar="EXPERIMENT",
                        help=f"which to run (default: all): {', '.join(EXPERIMENTS)}")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs, shows nothing")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 1 2 (0 1 with --quick)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None, help=f"results folder (default: {RESULTS})")
    args = parser.parse_args(argv)
    names = args.experiments or list(EXPERIMENTS)
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])
    out = args.out or (Path(tempfile.mkdtemp(prefix="evidence-")) if args.quick else RESULTS)
    for name in names:
        module = importlib.import_module(f"benchmarks.evidence.{name}")
        try:
            settings = parse_settings(module.QUICK if args.quick else module.DEFAULTS, args.set)
        except ValueError as err:
            parser.error(str(err))
        started = time.perf_counter()
        print(f"== {name}: {EXPERIMENTS[name]} (seeds {seeds}) -> {out}", flush=True)
        module.run(settings, seeds, args.device, out)
        print(f"== {name} done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

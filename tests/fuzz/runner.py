"""Runs the fuzz areas, each in a child process, and prints the counts: python -m tests.fuzz."""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np
import torch

from tests.fuzz.cases import AREAS
from tests.fuzz.classification import CLASSES, classify

ROOT = Path(__file__).resolve().parents[2]  # the checkout: the child runs `-m tests.fuzz` from here


def run_area(area: str, start: int, log: Path) -> None:
    """Classify ``area``'s cases from index ``start`` on, appending one JSON line per case to ``log``.

    A line ``{"running": i, ...}`` goes out before case i runs, so when a case kills the process
    (a segfault in a native kernel), the parent knows which one it was.
    """
    torch.manual_seed(0)
    np.random.seed(0)
    with tempfile.TemporaryDirectory() as tmp, open(log, "a") as out:

        def write(record):
            out.write(json.dumps(record) + "\n")
            out.flush()

        try:
            for index, case in enumerate(AREAS[area](Path(tmp))):
                if index < start:
                    continue
                write({"running": index, "area": area, "case": case.name})
                classify(case)
                write({"done": index, "area": area, "case": case.name, "outcome": case.outcome, "detail": case.detail})
        except Exception:  # a case generator itself failed: report it, go on with the other areas
            write({"done": -1, "area": area, "case": "building the cases", "outcome": "crash",
                   "detail": traceback.format_exc(limit=3)[-300:]})  # fmt: skip


def run(areas=None) -> list[dict]:
    """Every area in child processes; a case that kills its process is a crash, and the next one goes on."""
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for area in AREAS:
            if areas and area not in areas:
                continue
            start, log = 0, Path(tmp) / f"{area}.jsonl"
            while True:
                command = [sys.executable, "-m", "tests.fuzz", "--child", area, "--start", str(start),
                           "--log", str(log)]  # fmt: skip
                result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
                lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
                log.unlink(missing_ok=True)
                records += [r for r in lines if "done" in r]
                if result.returncode == 0:
                    break
                running = [r for r in lines if "running" in r]
                if not running:  # died before any case: nothing to skip, report and move on
                    records.append({"area": area, "case": "starting the child", "outcome": "crash",
                                    "detail": result.stderr[-300:]})  # fmt: skip
                    break
                last = running[-1]
                if any(r.get("done") == last["running"] for r in lines):
                    break  # it died after its last case: nothing left to run
                records.append({"area": area, "case": last["case"], "outcome": "crash",
                                "detail": f"the process died (exit code {result.returncode})"})  # fmt: skip
                start = last["running"] + 1
    return records


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--area", action="append", choices=tuple(AREAS), help="only these areas (repeatable)")
    parser.add_argument("--json", type=Path, help="write every case and its outcome here")
    parser.add_argument("--show", type=int, default=200, help="list at most this many bad outcomes")
    parser.add_argument("--child", choices=tuple(AREAS), help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("posemods").setLevel(logging.ERROR)
    if args.child:
        run_area(args.child, args.start, args.log)
        return {}
    cases = run(args.area)
    if args.json:
        args.json.write_text(json.dumps(cases, indent=1))
    counts = collections.Counter(c["outcome"] for c in cases)
    by_area = collections.defaultdict(collections.Counter)
    for case in cases:
        by_area[case["area"]][case["outcome"]] += 1
    print(f"{len(cases)} cases: " + ", ".join(f"{counts[k]} {k}" for k in CLASSES))
    width = max(len(a) for a in by_area)
    print(f"{'area':<{width}} | " + " | ".join(f"{k:>14}" for k in CLASSES))
    for area, area_counts in by_area.items():
        print(f"{area:<{width}} | " + " | ".join(f"{area_counts[k]:>14}" for k in CLASSES))
    bad = [c for c in cases if c["outcome"] not in ("clear error", "correct")]
    for case in bad[: args.show]:
        print(f"- [{case['outcome']}] {case['area']}: {case['case']}: {case['detail']}")
    return dict(counts)

"""``edgevoice bench``: measure this machine's CPU, memory and latency figures and print them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "measure CPU, memory and latencies on this machine (about 2 minutes); --json for one JSON object"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (figure key -> value, what it measured ...)")
    parser.add_argument("--quick", action="store_true",
                        help="a few turns of everything (about 40 s): checks the bench works; too few to quote")
    parser.add_argument("--jobs", type=int, metavar="N", default=None,
                        help="daemons run at once (default 9: all; fewer, e.g. 3 on a 512 MB Pi Zero 2 W, take longer)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the recordings, configs, events files, output WAVs and logs in DIR")


def main(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from edgevoice.bench.audio import BenchError
    from edgevoice.bench.runner import BenchOptions, print_progress, run_bench

    options = BenchOptions.quick() if args.quick else BenchOptions()
    if args.jobs is not None:
        if args.jobs < 1:
            print("edgevoice bench: --jobs must be at least 1", file=sys.stderr)
            return 2
        options = replace(options, jobs=args.jobs)
    if args.keep is not None:
        options = replace(options, workdir=args.keep)
    try:
        report = run_bench(options, progress=print_progress)
    except BenchError as exc:
        print(f"edgevoice bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.table())
    return 0

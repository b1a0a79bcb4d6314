#!/usr/bin/env python3
"""What a push costs the compact index's `/versions`: the time to rebuild a gem's lines after one more
version, for gems of growing numbers of versions (one yank among them), in-process, no HTTP.

Each line of /versions carries the MD5 of the gem's info file as it was right after that push or yank.
Hashing each moment's info file from scratch made a gem of n versions cost n info files of up to n lines
(n squared); the running MD5 of `index.versions_events` makes it n lines, and the owner's file merges
each gem's cached lines, so a push re-hashes the pushed gem alone.

    python3 scripts/bench_rubygems_versions.py                 # 250 ... 4000 versions
    python3 scripts/bench_rubygems_versions.py --sizes 100 1000 --repeat 5
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.formats.rubygems import index
from appliance.formats.rubygems.metadata import Dependency, GemSpec


def history(count: int) -> list[index.VersionHistory]:
    start = dt.datetime(2024, 1, 1)
    versions = []
    for number in range(count):
        spec = GemSpec(name="demo", version=f"1.{number // 100}.{number % 100}",
                       dependencies=[Dependency("rack", [(">=", "2"), ("<", "4")])])
        yanked = start + dt.timedelta(minutes=number, seconds=30) if number == count // 2 else None
        versions.append(index.VersionHistory(index.IndexedGem(spec, f"{number:064x}"),
                                             start + dt.timedelta(minutes=number), yanked))
    return versions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the fastest is shown")
    args = parser.parse_args()
    print(f"{'versions':>9} {'ms per rebuild':>15} {'us per version':>15}")
    for size in args.sizes:
        versions = history(size)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            index.versions_file(versions[0].published_at, [index.versions_events(1, "demo", versions)])
            best = min(best, time.perf_counter() - started)
        print(f"{size:>9} {best * 1000:>15.1f} {best * 1e6 / size:>15.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

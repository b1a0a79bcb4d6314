#!/usr/bin/env python3
"""What a push costs the compact index's `/versions`, in-process, no HTTP: the time to rebuild a gem's
lines after one more version, for gems of growing numbers of versions (one yank among them), and the
time to make the owner's file after that push: merged anew from every gem's lines, or appended to the
file as it was (what the appliance does when only pushes and yanks happened since).

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
    print(f"{'versions':>9} {'gem lines ms':>13} {'us/version':>11} {'owner file: merge ms':>21} {'append ms':>10}")
    for size in args.sizes:
        versions = history(size)
        start = versions[0].published_at
        gem_lines = fastest(args.repeat, lambda v=versions: index.versions_events(1, "demo", v))
        # The owner's other gems: 20 of them, `size` versions in all, published before the push.
        others = {n: index.versions_events(n, f"gem{n}", history(size // 20)) for n in range(2, 22)}
        before = {**others, 1: index.versions_events(1, "demo", versions[:-1])}
        after = {**others, 1: index.versions_events(1, "demo", versions)}
        log = index.VersionsLog.build(start, before)
        merge = fastest(args.repeat, lambda a=after, s=start: index.VersionsLog.build(s, a))
        append = fastest(args.repeat, lambda a=after, old=log, s=start: old.appended(s, a))
        assert log.appended(start, after).body == index.VersionsLog.build(start, after).body
        print(f"{size:>9} {gem_lines * 1000:>13.1f} {gem_lines * 1e6 / size:>11.1f} {merge * 1000:>21.1f} "
              f"{append * 1000:>10.2f}")
    return 0


def fastest(repeat: int, run) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


if __name__ == "__main__":
    sys.exit(main())

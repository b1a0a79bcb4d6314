#!/usr/bin/env python3
"""What the Prometheus metrics cost: npm packument requests per second with metrics on and off, in one run.

It starts two fresh appliances side by side (gunicorn, 2 workers x 4 threads each, in temp homes), one
with `[metrics]` in appliance.toml (every request counted at the request boundary, multiprocess files
under gunicorn) and one without, publishes the same 100 versions of `@bench/pkg` to both, then measures
the abbreviated packument (`Accept: application/vnd.npm.install-v1+json`, the publisher's token) with
`wrk`, alternating off, on, off, on, ... so that drift in the machine's load hits both alike. It prints
the median requests/sec of each, the ratio on/off of the medians and the median of each pair's ratio
(the goal: at least 0.95), and scrapes /metrics
once at the end to show the requests were counted.

On a machine shared with other work, req/s swing with whatever else runs. So it also reads the CPU time
each appliance's processes (gunicorn's master and workers, from /proc) spent in each run and divides it by
the requests served: CPU per request is what metrics add to, and what other load changes least. Its
ratio off/on is the throughput ratio of a CPU-bound appliance.

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_metrics.py                      # 8 runs of 5 s each way, ~2 min
    python3 scripts/bench_metrics.py --runs 3 --duration 5
    python3 scripts/bench_metrics.py --json metrics-bench.json

It reuses scripts/bench_npm.py's appliance setup, publishing and wrk parsing; wrk comes from Debian.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_npm import (
    ABBREVIATED,
    PACKAGE,
    Appliance,
    ensure_wrk,
    log,
    package_path,
    realistic_versions,
    run_wrk,
)


class MeteredAppliance(Appliance):
    """An appliance whose appliance.toml gets `[metrics]` right after `appliance init` writes it."""

    def __init__(self, home: Path, workers: int, threads: int, metrics: bool):
        super().__init__(home, workers, threads)
        self.metrics = metrics
        self.label = f"metrics {'on' if metrics else 'off'}"
        self.log_file = home.parent / f"appliance-{'on' if metrics else 'off'}.log"

    def cli(self, *args: str) -> str:
        output = super().cli(*args)
        if args == ("init",) and self.metrics:
            with open(self.home / "appliance.toml", "a") as f:
                f.write('\n[metrics]\nallow = ["127.0.0.1/32"]\n')
        return output


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its descendants still running, from /proc."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    wrk = ensure_wrk(install=True)
    root = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    servers = [MeteredAppliance(root / name / "home", args.workers, args.threads, metrics=name == "on")
               for name in ("off", "on")]
    versions = realistic_versions(PACKAGE, 100)
    try:
        for server in servers:
            server.start()
            log(f"{server.label}: publishing {len(versions)} versions of {PACKAGE}")
            for tarball in versions:
                server.publish(tarball)
        headers = {"Accept": ABBREVIATED, **servers[0].auth_headers()}
        rates: dict[str, list[float]] = {server.label: [] for server in servers}
        cpu_per_request: dict[str, list[float]] = {server.label: [] for server in servers}
        for server in servers:
            url = server.base + package_path(server.prefix, PACKAGE)
            run_wrk(wrk, url, {**headers, **server.auth_headers()}, threads=args.wrk_threads,
                    connections=args.connections, duration=args.warmup)
        for number in range(args.runs):
            for server in servers:
                url = server.base + package_path(server.prefix, PACKAGE)
                cpu_before = cpu_seconds(server.process.pid)
                figures = run_wrk(wrk, url, {**headers, **server.auth_headers()}, threads=args.wrk_threads,
                                  connections=args.connections, duration=args.duration)
                served = figures.get("requests") or figures["requests_per_sec"] * args.duration
                cpu_per_request[server.label].append((cpu_seconds(server.process.pid) - cpu_before) / served)
                if figures.get("non_2xx") or figures.get("socket_errors"):
                    log(f"{server.label}: errors in run {number + 1}: {figures.get('non_2xx')} non-2xx, "
                        f"{figures.get('socket_errors')} socket errors")
                rates[server.label].append(figures["requests_per_sec"])
                log(f"{server.label}: run {number + 1}/{args.runs}: {figures['requests_per_sec']:.1f} req/s, "
                    f"{cpu_per_request[server.label][-1] * 1e6:.0f} us CPU per request")
        with urllib.request.urlopen(f"{servers[1].base}/metrics", timeout=10) as answer:
            counted = sum(float(line.rsplit(" ", 1)[1]) for line in answer.read().decode().splitlines()
                          if line.startswith('appliance_http_requests_total{format="npm"'))
        off, on = (statistics.median(rates[server.label]) for server in servers)
        # Each "on" run against the "off" run just before it: drift in the machine's load cancels out.
        paired = statistics.median(b / a for a, b in zip(rates["metrics off"], rates["metrics on"], strict=True))
        print(f"\nnpm packument (abbreviated, 100 versions), {args.runs} x {args.duration:g} s each, "
              f"{args.connections} connections, {args.workers} workers x {args.threads} threads")
        print(f"  metrics off: {off:8.1f} req/s  (runs: {', '.join(f'{r:.0f}' for r in rates['metrics off'])})")
        print(f"  metrics on:  {on:8.1f} req/s  (runs: {', '.join(f'{r:.0f}' for r in rates['metrics on'])})")
        print(f"  on / off:    {on / off:8.3f}   (medians; goal: at least 0.95)")
        print(f"  on / off:    {paired:8.3f}   (median of each run's ratio to the run before it)")
        cpu_off, cpu_on = (statistics.median(cpu_per_request[server.label]) for server in servers)
        print(f"  CPU per request: {cpu_off * 1e6:.0f} us off, {cpu_on * 1e6:.0f} us on; off / on: "
              f"{cpu_off / cpu_on:.3f} (the throughput ratio when CPU-bound, whatever else the machine runs)")
        print(f"  load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(f"  /metrics counted {counted:.0f} npm requests on the metered appliance")
        if args.json:
            args.json.write_text(json.dumps({"off": rates["metrics off"], "on": rates["metrics on"],
                                             "median_off": off, "median_on": on, "ratio": on / off,
                                             "paired_ratio": paired, "cpu_per_request": cpu_per_request,
                                             "cpu_ratio": cpu_off / cpu_on}, indent=1))
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

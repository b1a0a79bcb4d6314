#!/usr/bin/env python3
"""NuGet benchmark: the real NuGet.exe 5.8 (mono) restoring 30 packages into a fresh folder, and
registration index requests per second under `wrk`.

It starts a fresh appliance (gunicorn, in a temp APPLIANCE_HOME, path layout on 127.0.0.1), pushes
--packages (30) packages `Bench.Lib00`..`Bench.Lib29` 1.0.0 (each a real .nupkg with --size-kb of
incompressible content) and `Bench.All` 1.0.0, which depends on all of them, over HTTP as nuget push
sends them, and --versions (20) versions of `Bench.Versions` (each with a dependency group) for the
registration figure. Then:

  1. restore: `nuget restore packages.config` listing the 30 packages, into a fresh packages folder
     with fresh NUGET_PACKAGES and HTTP caches every run (flat container: index.json and .nupkg of
     each); and `nuget install Bench.All` (dependency resolution from the registrations, then the 30
     .nupkg). The median wall time of --runs (3) runs each, the spread, the time above mono's start
     (`nuget help`, the baseline), and the requests the appliance served per run;
  2. registration: `wrk` with --connections (16) connections and --wrk-threads (2) threads for
     --duration (10) seconds on the registration index of `Bench.Versions`, once anonymous (a public
     repository) and once with a token (HTTP Basic, as nuget sends it from a NuGet.Config), after a
     --warmup (2 s) run: requests per second and latency.

The packages live in a public repository, so restores send no credentials (nuget sends them only when
challenged); --private puts them in a private one and gives nuget a NuGet.Config with the token (one
401 per connection first). The appliance runs --workers (2) gthread workers; wrk runs on the same
machine and takes its share of the CPUs.

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_nuget.py                    # ~1 min on 2 cores
    python3 scripts/bench_nuget.py --json bench-nuget.json --runs 5
    python3 scripts/bench_nuget.py --private

What it needs: mono and NuGet.exe 5.8 in .venv/nuget (scripts/install-test-deps.sh installs both); wrk
(Debian), installed with `apt-get install -y wrk` when missing and running as root.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.support.live import LiveAppliance
from tests.support.nuget import NUGET_EXE, NuGet, multipart, nupkg_bytes

OWNER = "bench"
REPOSITORY = "packages"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        if subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, check=False).returncode:
            subprocess.run(["apt-get", "update"], capture_output=True, check=False)
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=False)
        path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: run `apt-get install -y wrk` (Debian) and try again")
    return path


def push(feed: str, token: str, data: bytes) -> None:
    body, content_type = multipart(data)
    response = requests.put(f"{feed}api/v2/package", data=body, timeout=60,
                            headers={"Content-Type": content_type, "X-NuGet-ApiKey": token})
    if response.status_code != 201:
        raise SystemExit(f"push failed: {response.status_code} {response.reason}")


def arrange(feed: str, token: str, packages: int, versions: int, size_kb: int) -> list[str]:
    repository_url = f"https://example.com/{OWNER}/{REPOSITORY}"
    ids = [f"Bench.Lib{i:02d}" for i in range(packages)]
    for package_id in ids:
        push(feed, token, nupkg_bytes(package_id, "1.0.0", repository_url=repository_url,
                                      entries={"content/payload.bin": os.urandom(size_kb * 1024)}))
    push(feed, token, nupkg_bytes("Bench.All", "1.0.0", repository_url=repository_url,
                                  dependencies={"": [(package_id, "1.0.0") for package_id in ids]}))
    for minor in range(versions):
        push(feed, token, nupkg_bytes(
            "Bench.Versions", f"1.{minor}.0", repository_url=repository_url, description=f"version {minor}",
            dependencies={"net6.0": [("Bench.Lib00", "1.0.0"), ("Bench.Lib01", "[1.0.0, 2.0.0)")],
                          "netstandard2.0": [("Bench.Lib02", "1.0.0")]}))
    return ids


def access_lines(appliance: LiveAppliance) -> int:
    return sum(1 for line in appliance.log_path.read_text(errors="replace").splitlines() if '"GET /_registry' in line)


def timed(label: str, runs: int, make_client, args_of, appliance: LiveAppliance, check) -> dict:
    times, requests_served = [], []
    for run in range(runs):
        client = make_client(run)
        before = access_lines(appliance)
        started = time.monotonic()
        result = client.run(*args_of(client))
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit(f"{label} failed:\n{result.output[-3000:]}")
        check(client)
        times.append(elapsed)
        requests_served.append(access_lines(appliance) - before)
        log(f"{label} run {run + 1}: {elapsed:.2f} s, {requests_served[-1]} requests")
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "requests_per_run": statistics.median(requests_served), "runs_s": times}


def parse_wrk(output: str) -> dict:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    latency = re.search(r"Latency\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "requests_per_s": float(rps.group(1)) if rps else 0.0,
        "latency_avg_ms": float(latency.group(1)) * scale[latency.group(2)] if latency else None,
        "latency_stdev_ms": float(latency.group(3)) * scale[latency.group(4)] if latency else None,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def run_wrk(wrk: str, url: str, headers: dict, args, duration: float) -> dict:
    command = [wrk, "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{duration}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    figures = parse_wrk(output)
    if figures["non_2xx"]:
        raise SystemExit(f"wrk saw {figures['non_2xx']} answers that were not 2xx:\n{output}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=30)
    parser.add_argument("--versions", type=int, default=20, help="versions of the registration package")
    parser.add_argument("--size-kb", type=int, default=64, help="incompressible content per package")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--private", action="store_true", help="packages in a private repository")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()

    if not NUGET_EXE.exists() or shutil.which("mono") is None:
        raise SystemExit(f"{NUGET_EXE} or mono is missing: run scripts/install-test-deps.sh")
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="bench-nuget-"))
    appliance = LiveAppliance(work / "home", workers=args.workers)
    try:
        appliance.set("hostname", "127.0.0.1")
        appliance.set("subdomain_isolation", False)
        appliance.user(OWNER)
        appliance.repo(f"{OWNER}/{REPOSITORY}", "private" if args.private else "public")
        token = appliance.token(OWNER, "read:packages,write:packages")
        appliance.start()
        feed = f"{appliance.origin}/_registry/nuget/{OWNER}/"
        log(f"appliance at {appliance.origin}; pushing {args.packages + 1 + args.versions} packages")
        ids = arrange(feed, token, args.packages, args.versions, args.size_kb)
        source = f"{feed}index.json"
        credentials = token if args.private else None

        def client(name: str):
            return lambda run: NuGet(NUGET_EXE, work / f"{name}-{run}", source, credentials, user=OWNER)

        baseline = timed("mono start (nuget help)", args.runs, client("help"), lambda c: ("help",), appliance,
                         lambda c: None)

        def packages_config(c: NuGet):
            entries = "".join(f'<package id="{i}" version="1.0.0" targetFramework="net48" />' for i in ids)
            (c.workdir / "packages.config").write_text(f'<?xml version="1.0"?><packages>{entries}</packages>')
            return ("restore", str(c.workdir / "packages.config"), "-PackagesDirectory", str(c.workdir / "out"),
                    "-Source", "appliance")

        def restored(c: NuGet):
            found = sorted(p.name for p in (c.workdir / "out").iterdir())
            if found != sorted(f"{i}.1.0.0" for i in ids):
                raise SystemExit(f"restore left {found}")

        restore = timed("nuget restore packages.config", args.runs, client("restore"), packages_config, appliance,
                        restored)

        def install_all(c: NuGet):
            return ("install", "Bench.All", "-OutputDirectory", str(c.workdir / "out"), "-Source", "appliance")

        def installed(c: NuGet):
            if len(list((c.workdir / "out").iterdir())) != len(ids) + 1:
                raise SystemExit("nuget install left fewer packages than it should")

        install = timed("nuget install Bench.All", args.runs, client("install"), install_all, appliance, installed)

        registration = f"{feed}v3/registration/bench.versions/index.json"
        document = requests.get(registration, timeout=30, auth=(OWNER, token)).json()
        assert document["items"][0]["count"] == args.versions, document
        body_bytes = len(requests.get(registration, timeout=30, auth=(OWNER, token)).content)
        basic = {"Authorization": "Basic " + base64.b64encode(f"{OWNER}:{token}".encode()).decode()}
        wrk_figures = {}
        for label, headers in (("anonymous", {}), ("token", basic)):
            if label == "anonymous" and args.private:
                continue
            run_wrk(wrk, registration, headers, args, args.warmup)
            wrk_figures[label] = run_wrk(wrk, registration, headers, args, args.duration)
            log(f"registration {label}: {wrk_figures[label]}")

        figures = {
            "packages": args.packages, "size_kb": args.size_kb, "private": args.private, "workers": args.workers,
            "baseline_nuget_help": baseline, "restore_packages_config": restore, "install_with_dependencies": install,
            "registration": {"versions": args.versions, "bytes": body_bytes, "connections": args.connections,
                             "duration_s": args.duration, **wrk_figures},
        }
        base = baseline["median_s"]
        print(f"\nNuGet.exe 5.8 on mono, {args.packages} packages of {args.size_kb} KiB, "
              f"{'private' if args.private else 'public'} repository, {args.workers} workers, {args.runs} runs")
        print(f"{'what':40} {'median':>8} {'spread':>15} {'above mono':>11} {'requests':>9}")
        for label, result in (("mono start (nuget help)", baseline), ("nuget restore packages.config", restore),
                              ("nuget install Bench.All (+30 deps)", install)):
            print(f"{label:40} {result['median_s']:7.2f}s {result['min_s']:6.2f}-{result['max_s']:.2f}s "
                  f"{result['median_s'] - base:10.2f}s {result['requests_per_run']:9.0f}")
        print(f"\nregistration index of {args.versions} versions ({body_bytes} bytes), wrk {args.connections} "
              f"connections, {args.duration:.0f} s:")
        for label, result in wrk_figures.items():
            print(f"  {label:10} {result['requests_per_s']:9.0f} requests/s, latency {result['latency_avg_ms']:.2f} ms "
                  f"(stdev {result['latency_stdev_ms']:.2f} ms)")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        appliance.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What does metering transfer cost a download? The same private npm tarball fetched with the token, under
`enterprise-server` (nothing metered) and `cloud` (each download adds its bytes to the owner's month in the
database), alternating in rounds so both see the same load of a shared machine.

It starts a fresh appliance (gunicorn, 2 workers, SQLite unless APPLIANCE_TEST_DATABASE=postgresql, a temp
APPLIANCE_HOME), publishes one package with the real npm client, then fetches its tarball --rounds times
(default 10) × --requests (default 50) per edition, one request at a time, and prints the median and p95
per edition, the difference, and the load average; it checks that the metered bytes are exactly the cloud
downloads' bytes. `--json FILE` writes the figures.

Usage (from the repository root, with the appliance installed: `pip install -e '.[test]'`):

    python3 scripts/bench_transfer.py
    python3 scripts/bench_transfer.py --rounds 20 --requests 100 --json transfer.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.models.billing import OwnerTransfer
from tests.support.live import LiveAppliance
from tests.support.npm import Npm

EDITIONS = ("enterprise-server", "cloud")


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=50, help="downloads per edition in each round")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        live = LiveAppliance(Path(temp) / "home")
        live.set("hostname", "127.0.0.1")
        live.set("subdomain_isolation", False)
        live.set("billing.default_spending_limit_cents", 100_000)
        live.user("alice")
        live.repo("alice/libs", "private")
        token = live.token("alice")
        live.start()
        try:
            registry = f"{live.origin}/_registry/npm/"
            npm = Npm(Path(temp) / "package", registry, "alice", token)
            npm.write_package("@alice/hello", "1.0.0", repository="alice/libs")
            published = npm.run("publish")
            assert published.returncode == 0, published.output
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            document = session.get(f"{registry}@alice%2fhello", timeout=30).json()
            tarball = document["versions"]["1.0.0"]["dist"]["tarball"]
            size = len(session.get(tarball, timeout=30).content)

            timings: dict[str, list[float]] = {edition: [] for edition in EDITIONS}
            for _ in range(args.rounds):
                for edition in EDITIONS:
                    live.set("edition", edition)
                    session.get(tarball, timeout=30)  # each worker reads the new setting on its next request
                    for _ in range(args.requests):
                        clock = time.perf_counter()
                        response = session.get(tarball, timeout=30)
                        timings[edition].append((time.perf_counter() - clock) * 1000)
                        assert response.status_code == 200 and len(response.content) == size
            with live.db():
                metered = sum(row.bytes for row in OwnerTransfer.select())
            cloud_downloads = args.rounds * (args.requests + 1)
            assert metered == cloud_downloads * size, (metered, cloud_downloads, size)
        finally:
            live.stop()

    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; database "
          f"{os.environ.get('APPLIANCE_TEST_DATABASE', 'sqlite')}; tarball {size} bytes; "
          f"{args.rounds} rounds of {args.requests} downloads per edition")
    figures = {edition: {"median_ms": statistics.median(samples), "p95_ms": p95(samples)}
               for edition, samples in timings.items()}
    for edition, figure in figures.items():
        print(f"{edition:20} median {figure['median_ms']:6.2f} ms  p95 {figure['p95_ms']:6.2f} ms")
    extra = figures["cloud"]["median_ms"] - figures["enterprise-server"]["median_ms"]
    print(f"metering adds {extra:+.2f} ms to the median download; {metered} bytes metered, as sent")
    if args.json:
        args.json.write_text(json.dumps({"load": load, "tarball_bytes": size, "editions": figures,
                                         "metered_bytes": metered}, indent=2))


if __name__ == "__main__":
    main()

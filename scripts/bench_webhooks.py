#!/usr/bin/env python3
"""Does a webhook slow a publish? Publish time with 10 hooks, one of them dead, against none.

It starts a fresh appliance (gunicorn, 2 workers, SQLite, a temp APPLIANCE_HOME) and its scheduler (which
delivers webhooks), two repositories of one user: `plain`, without hooks, and `hooked`, with 10
repository hooks listening for `package` events: 9 receivers that answer 200 at once and one that
hangs (never answers; the scheduler cuts it after 10 s and retries it). Then it publishes --versions
(40) npm versions to each repository, alternating between them so both see the same machine and the
same delivery work going on in the background, each a PUT of the document `npm publish` sends, and
times each publish from the client. It prints the median and mean publish time of each, their ratio
(the goal: hooked within 10% of plain), and what the receivers got; `--json FILE` writes the figures.

Usage (from the repository root, with the appliance installed: `pip install -e '.[test]'`):

    python3 scripts/bench_webhooks.py
    python3 scripts/bench_webhooks.py --versions 100 --json webhooks.json
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.hook_receiver import Receiver
from tests.support.live import LiveAppliance

HOOKS = 10


def npm_document(name: str, version: str) -> dict:
    tarball = os.urandom(2048)
    filename = f"{name}-{version}.tgz"
    return {
        "_id": name, "name": name, "dist-tags": {"latest": version},
        "versions": {version: {
            "name": name, "version": version, "description": "benchmarked",
            "dist": {"integrity": "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode(),
                     "shasum": hashlib.sha1(tarball).hexdigest(), "tarball": f"http://x/{filename}"}}},
        "_attachments": {filename: {"content_type": "application/octet-stream",
                                    "data": base64.b64encode(tarball).decode(), "length": len(tarball)}},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=40, help="versions published to each repository")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-webhooks-")) / "home"
    appliance = LiveAppliance(home, workers=2)
    appliance.set("hostname", "127.0.0.1")
    appliance.set("subdomain_isolation", False)
    appliance.set("webhooks.allow_private_addresses", True)
    appliance.set("api.rate_limit", 0)
    appliance.user("alice")
    appliance.repo("alice/plain")
    appliance.repo("alice/hooked")
    token = appliance.token("alice", "read:packages,write:packages,repo")
    receivers = [Receiver().start() for _ in range(HOOKS - 1)] + [Receiver(hang_seconds=3600).start()]
    appliance.start()
    scheduler = subprocess.Popen([sys.executable, "-m", "appliance", "scheduler"],
                                 env=dict(os.environ, APPLIANCE_HOME=str(home)),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    try:
        for receiver in receivers:
            hook = {"config": {"url": receiver.url, "content_type": "json", "secret": "bench"},
                    "events": ["package"]}
            created = session.post(f"{appliance.origin}/api/v3/repos/alice/hooked/hooks", json=hook)
            created.raise_for_status()
        times: dict[str, list[float]] = {"plain": [], "hooked": []}
        registry = f"{appliance.origin}/_registry/npm"
        for number in range(args.versions + 1):
            for repository in ("plain", "hooked") if number % 2 else ("hooked", "plain"):
                name = f"@alice/{repository}"
                document = npm_document(name, f"1.0.{number}")
                document["versions"][f"1.0.{number}"]["repository"] = f"alice/{repository}"
                started = time.perf_counter()
                response = session.put(f"{registry}/{name.replace('/', '%2F')}", json=document)
                elapsed = time.perf_counter() - started
                if response.status_code != 201:
                    raise SystemExit(f"publishing {name}@1.0.{number}: {response.status_code} {response.text}")
                if number:  # the first of each is a warm-up (and creates the package)
                    times[repository].append(elapsed)
        time.sleep(5)  # let the scheduler catch up, for the delivery counts below
        delivered = sum(len(r.received) for r in receivers[:-1])
        dead_attempts = len(receivers[-1].received)
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
        appliance.stop()
        for receiver in receivers:
            receiver.server.shutdown()

    figures = {
        "versions": args.versions,
        "hooks": HOOKS,
        "plain_median_ms": statistics.median(times["plain"]) * 1000,
        "hooked_median_ms": statistics.median(times["hooked"]) * 1000,
        "plain_mean_ms": statistics.mean(times["plain"]) * 1000,
        "hooked_mean_ms": statistics.mean(times["hooked"]) * 1000,
        "deliveries_received_by_live_receivers": delivered,
        "attempts_at_the_dead_receiver": dead_attempts,
    }
    figures["median_ratio"] = figures["hooked_median_ms"] / figures["plain_median_ms"]
    figures["mean_ratio"] = figures["hooked_mean_ms"] / figures["plain_mean_ms"]
    print(f"publish of one npm version, {args.versions} each, alternating")
    print(f"{'':24}{'median ms':>12}{'mean ms':>12}")
    print(f"{'no hooks':24}{figures['plain_median_ms']:12.1f}{figures['plain_mean_ms']:12.1f}")
    print(f"{'10 hooks, one dead':24}{figures['hooked_median_ms']:12.1f}{figures['hooked_mean_ms']:12.1f}")
    print(f"ratio hooked/plain: median {figures['median_ratio']:.3f}, mean {figures['mean_ratio']:.3f} "
          f"(goal: within 1.10)")
    print(f"deliveries at the 9 live receivers: {delivered} (pings included); attempts at the dead one: "
          f"{dead_attempts}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

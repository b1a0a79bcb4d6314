#!/usr/bin/env python3
"""Do the console's pages stay fast on a large appliance? p95 of each page with 10,000 users and 10,000
packages (the goal: under 100 ms).

It starts a fresh appliance (gunicorn, 2 workers, SQLite unless APPLIANCE_TEST_DATABASE=postgresql, a
temp APPLIANCE_HOME), fills it straight into the database (the figures are about reading, so the rows go
in with bulk inserts): --users users (default 10,000), each with a repository, --packages packages
(default 10,000) spread over them and the five formats, two versions of each with a file, a blob and
download counts, this month's transfer of every owner and a spending limit for one in ten (the cloud edition's
Billing pages), and 10,000 audit entries; then counts storage as the storage_usage job does. A site admin signs in with the /login form, then each console
page is fetched --rounds times (default 40) in turn, and the median and p95 of each are printed with
the load average; `--json FILE` writes the figures.

Usage (from the repository root, with the appliance installed: `pip install -e '.[test]'`):

    python3 scripts/bench_console.py
    python3 scripts/bench_console.py --users 10000 --packages 10000 --rounds 40 --json console.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.db import database
from appliance.jobs.scheduler import storage_usage
from appliance.models import (
    Account,
    AuditEvent,
    Blob,
    DownloadCount,
    OwnerTransfer,
    Package,
    PackageFile,
    PackageVersion,
    Repository,
    SpendingLimit,
)
from appliance.models.base import utcnow
from appliance.settings import FORMATS
from tests.support.live import LiveAppliance

PAGES = [
    "/console", "/console/settings", "/console/users", "/console/users?q=user-004", "/console/users?page=150",
    "/console/users/user-01234", "/console/orgs", "/console/repos", "/console/repos?q=user-0999/",
    "/console/packages", "/console/packages?format=npm&page=30", "/console/packages?q=pkg-0777",
    "/console/jobs", "/console/audit", "/console/audit?actor=user-01&action=user.sign_in", "/console/maintenance",
    "/console/billing", "/console/billing/user-01234",
]


def batches(rows: list[dict], size: int = 500):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def fill(live: LiveAppliance, users: int, packages: int) -> None:
    now = utcnow()
    with live.db(), database.atomic():
        for batch in batches([{"login": f"user-{i:05d}", "lower_login": f"user-{i:05d}", "kind": "user",
                               "email": f"user-{i:05d}@example.com", "created_at": now} for i in range(users)]):
            Account.insert_many(batch).execute()
        ids = [a.id for a in Account.select(Account.id).where(Account.login.startswith("user-")).order_by(Account.id)]
        for batch in batches([{"owner": owner, "name": "repo", "lower_name": "repo", "visibility": "private",
                               "created_at": now} for owner in ids]):
            Repository.insert_many(batch).execute()
        repos = dict(Repository.select(Repository.owner, Repository.id).tuples())
        rows = []
        for i in range(packages):
            owner = ids[i % len(ids)]
            name = f"pkg-{i:05d}"
            rows.append({"owner": owner, "repository": repos[owner], "format": FORMATS[i % len(FORMATS)],
                         "name": name, "lower_name": name, "created_at": now, "updated_at": now})
        for batch in batches(rows):
            Package.insert_many(batch).execute()
        package_ids = [p.id for p in Package.select(Package.id).order_by(Package.id)]
        for batch in batches([{"package": pid, "version": v, "lower_version": v, "created_at": now,
                               "updated_at": now} for pid in package_ids for v in ("1.0.0", "1.1.0")]):
            PackageVersion.insert_many(batch).execute()
        versions = [v.id for v in PackageVersion.select(PackageVersion.id).order_by(PackageVersion.id)]
        for batch in batches([{"sha256": hashlib.sha256(str(v).encode()).hexdigest(), "size": 4096 + v,
                               "created_at": now} for v in versions]):
            Blob.insert_many(batch).execute()
        blobs = [b.id for b in Blob.select(Blob.id).order_by(Blob.id)]
        for batch in batches([{"version": v, "name": f"file-{v}", "lower_name": f"file-{v}", "blob": b,
                               "created_at": now} for v, b in zip(versions, blobs, strict=True)]):
            PackageFile.insert_many(batch).execute()
        for batch in batches([{"version": v, "day": now.date(), "count": v % 50} for v in versions]):
            DownloadCount.insert_many(batch).execute()
        # Each version's total beside its day, as `record_download` keeps them.
        PackageVersion.update(downloads=PackageVersion.id % 50).execute()
        # Cloud billing: every owner downloaded some private packages this month; one in ten has their own limit.
        month = now.date().replace(day=1)
        for batch in batches([{"owner": owner, "month": month, "bytes": 1024 * (owner % 5000)} for owner in ids]):
            OwnerTransfer.insert_many(batch).execute()
        for batch in batches([{"owner": owner, "cents": owner % 10_000, "updated_at": now} for owner in ids[::10]]):
            SpendingLimit.insert_many(batch).execute()
        for batch in batches([{"actor_login": f"user-{i % users:05d}", "action": "user.sign_in",
                               "target": f"user:user-{i % users:05d}", "created_at": now} for i in range(10_000)]):
            AuditEvent.insert_many(batch).execute()


def sign_in(live: LiveAppliance) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{live.origin}/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = session.post(f"{live.origin}/login", data={"csrf_token": token, "login": "root",
                                                        "password": "root-password", "next": "/console"}, timeout=30)
    assert answer.ok and "Management console" in answer.text, answer.status_code
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        live = LiveAppliance(Path(temp) / "home")
        live.user("root", site_admin=True)
        live.set("edition", "cloud")  # the Billing pages with their figures
        started = time.perf_counter()
        fill(live, args.users, args.packages)
        with live.db():
            storage_usage()  # what the scheduler does every five minutes: the storage page reads its count
        print(f"filled {args.users} users and {args.packages} packages in {time.perf_counter() - started:.1f} s")
        live.start()
        try:
            session = sign_in(live)
            for page in PAGES:  # warm each worker's caches once
                assert session.get(f"{live.origin}{page}", timeout=60).status_code == 200, page
            timings: dict[str, list[float]] = {page: [] for page in PAGES}
            for _ in range(args.rounds):
                for page in PAGES:
                    clock = time.perf_counter()
                    response = session.get(f"{live.origin}{page}", timeout=60)
                    timings[page].append((time.perf_counter() - clock) * 1000)
                    assert response.status_code == 200, (page, response.status_code)
        finally:
            live.stop()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; database "
          f"{os.environ.get('APPLIANCE_TEST_DATABASE', 'sqlite')}; {args.rounds} rounds")
    figures = {}
    print(f"{'page':55} {'median ms':>10} {'p95 ms':>8}")
    for page, samples in timings.items():
        samples.sort()
        p95 = samples[max(0, round(0.95 * len(samples)) - 1)]
        figures[page] = {"median_ms": statistics.median(samples), "p95_ms": p95}
        print(f"{page:55} {statistics.median(samples):10.1f} {p95:8.1f}{'' if p95 < 100 else '  OVER 100 ms'}")
    worst = max(f["p95_ms"] for f in figures.values())
    print(f"worst p95: {worst:.1f} ms (goal: under 100 ms)")
    if args.json:
        args.json.write_text(json.dumps({"users": args.users, "packages": args.packages, "load": load,
                                         "pages": figures}, indent=2))


if __name__ == "__main__":
    main()

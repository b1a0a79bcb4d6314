#!/usr/bin/env python3
"""Server time of the web pages with 10,000 packages and 100,000 versions in the database, at 16
connections, beside the npm packument of the same package in the same run.

An appliance is started as scripts/bench_npm.py starts one (gunicorn, --workers x --threads, a temp
APPLIANCE_HOME, SQLite by default). The package the package page shows, @bench/big-page, gets
--big-versions (1,000) versions published over HTTP as `npm publish` sends them (readme, dependencies,
tags); the rest of the 10,000 packages and 100,000 versions (--packages, --versions) are inserted
straight into the database in batches, each version with a file, spread over a public, a private and
an internal repository, with 90 days of downloads for the big package. Then, signed in through /login
as the owner (a browser's session cookie), wrk measures with a Lua script that reports p95:

    dashboard      GET /
    owner page     GET /users/bench/packages
    package page   GET /users/bench/packages/npm/package/@bench%2Fbig-page  (1,000 versions)
    search         GET /search?q=p12
    packument      GET /_registry/npm/@bench%2fbig-page  (full, with the token: what npm asks first)

The goal: p95 under 50 ms for every page, and the package page at most twice the packument's time
(compared at the median and at p95). Each figure is the median of --runs runs of --duration seconds;
the load average is printed with the figures (wrk runs on the same machine).

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_web.py                   # ~5 min on 2 cores
    python3 scripts/bench_web.py --runs 1 --duration 5 --json web.json
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_npm import (  # a sibling script, not a package
    FULL,
    SCOPE,
    USER,
    Appliance,
    BenchError,
    call,
    ensure_wrk,
    group_cpu,
    load_average,
    log,
    parse_time_ms,
    parse_wrk,
    realistic_versions,
)

BIG = f"@{SCOPE}/big-page"
PASSWORD = "bench-web-password-1"
P95_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("p95: %.3fms\\n", latency:percentile(95) / 1000))
end
"""
GOAL_P95_MS = 50.0


def seed(home: Path, packages: int, versions: int) -> None:
    """`packages` packages of bench with `versions` versions in all (each with a file sharing one blob),
    over three repositories of each visibility, plus 90 days of downloads of the big package."""
    from peewee import fn

    from appliance.accounts.service import set_password
    from appliance.db import database, open_database
    from appliance.models import Account, Repository
    from appliance.models.base import utcnow
    from appliance.models.packages import Blob, DownloadCount, Package, PackageVersion
    from appliance.settings import Bootstrap

    bootstrap = Bootstrap.load(home)
    open_database(bootstrap.database_url)
    with database.connection_context():
        owner = Account.get(Account.lower_login == USER)
        set_password(owner, PASSWORD)
        repositories = [r.id for r in Repository.select().where(
            (Repository.owner == owner) & Repository.lower_name.endswith("-libs"))]
        # The versions still wanted, spread evenly (the first packages take one more where it does not divide).
        wanted = max(0, versions - PackageVersion.select(fn.COUNT(PackageVersion.id)).scalar())
        per_package, extra = divmod(wanted, max(packages - 1, 1))
        now = utcnow()
        blob_id = Blob.insert(sha256="0" * 64, size=4096).on_conflict_ignore().execute() or \
            Blob.get(Blob.sha256 == "0" * 64).id
        last_version = PackageVersion.select(fn.MAX(PackageVersion.id)).scalar() or 0
        with database.atomic():
            for low in range(0, packages - 1, 5_000):
                rows = [{"owner": owner.id, "repository": repositories[i % len(repositories)], "format": "npm",
                         "name": f"@{SCOPE}/p{i}", "lower_name": f"@{SCOPE}/p{i}",
                         "created_at": now - dt.timedelta(minutes=i), "updated_at": now - dt.timedelta(minutes=i)}
                        for i in range(low, min(low + 5_000, packages - 1))]
                Package.insert_many(rows).execute()
        ids = [pid for (pid,) in Package.select(Package.id).where(
            (Package.owner == owner.id) & Package.name.startswith(f"@{SCOPE}/p")).tuples()]
        with database.atomic():
            batch = []
            for number, package_id in enumerate(ids):
                for minor in range(per_package + (number < extra)):
                    version = f"1.{minor}.0"
                    batch.append({"package": package_id, "version": version, "lower_version": version,
                                  "metadata": json.dumps({"description": "seeded", "license": "MIT"}),
                                  "summary": "seeded", "created_at": now, "updated_at": now})
                    if len(batch) == 5_000:
                        PackageVersion.insert_many(batch).execute()
                        batch = []
            if batch:
                PackageVersion.insert_many(batch).execute()
        p = database.param
        with database.atomic():
            database.execute_sql(
                "INSERT INTO package_file (version_id, name, lower_name, blob_id, content_type, created_at) "
                f"SELECT id, 'seed.tgz', 'seed.tgz', {p}, 'application/octet-stream', {p} FROM package_version "
                f"WHERE id > {p}", (blob_id, now, last_version))
            big = Package.get(Package.lower_name == BIG)
            newest = [v for (v,) in PackageVersion.select(PackageVersion.id).where(PackageVersion.package == big.id)
                      .order_by(PackageVersion.id.desc()).limit(20).tuples()]
            DownloadCount.insert_many([{"version": v, "day": now.date() - dt.timedelta(days=d), "count": 1 + d % 7}
                                       for v in newest for d in range(90)]).execute()
            # Each version's total beside its days, as `record_download` keeps them.
            PackageVersion.update(downloads=DownloadCount.select(fn.SUM(DownloadCount.count))
                                  .where(DownloadCount.version == PackageVersion.id)
                                  ).where(PackageVersion.id.in_(newest)).execute()
        database.execute_sql("ANALYZE")
        counts = (Package.select().count(), PackageVersion.select().count())
    database.close()
    log(f"database: {counts[0]} packages, {counts[1]} versions")


def session_cookie(base: str) -> str:
    """Sign in through the /login form as a browser does; the session cookie to send."""
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = session.post(f"{base}/login", data={"csrf_token": token, "login": USER, "password": PASSWORD,
                                                   "next": "/"}, allow_redirects=False)
    if answer.status_code != 302:
        raise BenchError(f"signing in failed: {answer.status_code} {answer.text[:500]}")
    # The page a browser lands on next gives the session its CSRF token (for the sign-out form), and the
    # browser keeps the cookie that holds it: wrk then sends that one, as the browser would.
    session.get(f"{base}/")
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def run_wrk(wrk: str, script: Path, url: str, headers: dict, args) -> dict:
    import subprocess

    command = [wrk, f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.duration:g}s", "--timeout=30s",
               "--latency", "-s", str(script)]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    result = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({result.returncode}): {result.stderr}{result.stdout}")
    figures = parse_wrk(result.stdout)
    figures["latency_p95_ms"] = parse_time_ms(re.search(r"p95: ([\d.]+ms)", result.stdout).group(1))
    return figures


def measure(appliance: Appliance, wrk: str, script: Path, what: str, path: str, headers: dict, args) -> dict:
    url = appliance.base + path
    check = call(appliance.base, "GET", path, headers=headers, timeout=60)
    if check.status != 200:
        raise BenchError(f"{what}: GET {path} answered {check.status}")
    runs = []
    for number in range(args.runs):
        before = group_cpu(appliance.process.pid)
        figures = run_wrk(wrk, script, url, headers, args)
        after = group_cpu(appliance.process.pid)
        cpu = sum(after[pid] - before.get(pid, 0.0) for pid in after)
        figures["server_cpu_ms_per_request"] = cpu * 1000 / figures["requests"] if figures.get("requests") else None
        log(f"{what}, run {number + 1}/{args.runs}: {figures['requests_per_sec']:.1f} req/s, "
            f"p50 {figures['latency_p50_ms']:.1f} ms, p95 {figures['latency_p95_ms']:.1f} ms")
        runs.append(figures)
    chosen = sorted(runs, key=lambda r: r["latency_p95_ms"])[(len(runs) - 1) // 2]
    return {**chosen, "bytes": len(check.body), "path": path,
            "errors": sum(r["non_2xx"] + sum(r["socket_errors"].values()) for r in runs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=10_000, help="packages in the database")
    parser.add_argument("--versions", type=int, default=100_000, help="versions in the database")
    parser.add_argument("--big-versions", type=int, default=1_000, help="versions of the package page's package")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per figure; the median one is reported")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="appliance serve --workers")
    parser.add_argument("--threads", type=int, default=4, help="appliance serve --threads")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON to FILE")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install wrk when missing")
    args = parser.parse_args()

    wrk = ensure_wrk(not args.no_install)
    with tempfile.TemporaryDirectory(prefix="bench-web-") as temp:
        temp_dir = Path(temp)
        script = temp_dir / "p95.lua"
        script.write_text(P95_SCRIPT)
        appliance = Appliance(temp_dir / "home", args.workers, args.threads)
        try:
            appliance.start()
            appliance.cli("repos", "create", f"{SCOPE}/big-page", "--visibility", "public")
            for visibility in ("public", "private", "internal"):
                appliance.cli("repos", "create", f"{SCOPE}/{visibility}-libs", "--visibility", visibility)
            log(f"publishing {args.big_versions} versions of {BIG} over HTTP")
            started = time.monotonic()
            for tarball in realistic_versions(BIG, args.big_versions):
                appliance.publish(tarball)
            log(f"published in {time.monotonic() - started:.0f} s; seeding the database")
            seed(appliance.home, args.packages, args.versions)
            cookie = {"Cookie": session_cookie(appliance.base)}
            encoded = urllib.parse.quote(BIG, safe="@")
            targets = [
                ("dashboard", "/", cookie),
                ("owner page", f"/users/{USER}/packages", cookie),
                ("package page", f"/users/{USER}/packages/npm/package/{encoded}", cookie),
                ("search", "/search?q=p12", cookie),
                ("npm packument", f"/_registry/npm/{BIG.replace('/', '%2f')}",
                 {**appliance.auth_headers(), "Accept": FULL}),
            ]
            results = {what: measure(appliance, wrk, script, what, path, headers, args)
                       for what, path, headers in targets}
        finally:
            appliance.stop()
    load = load_average()
    print()
    print(f"web pages, {args.packages} packages / {args.versions} versions, {BIG} with {args.big_versions} "
          f"versions; wrk {args.wrk_threads} threads x {args.connections} connections, {args.runs} x "
          f"{args.duration:g} s (median run); appliance {args.workers} workers x {args.threads} threads; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'':16} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'bytes':>9} {'errors':>7}")
    for what, r in results.items():
        print(f"{what:16} {r['requests_per_sec']:8.1f} {r['latency_p50_ms']:8.1f} {r['latency_p95_ms']:8.1f} "
              f"{r.get('latency_p99_ms', 0):8.1f} {r['server_cpu_ms_per_request'] or 0:11.2f} {r['bytes']:9d} "
              f"{r['errors']:7d}")
    page, packument = results["package page"], results["npm packument"]
    ratios = {key: page[f"latency_{key}_ms"] / packument[f"latency_{key}_ms"] for key in ("p50", "p95")}
    pages_ok = all(r["latency_p95_ms"] < GOAL_P95_MS for what, r in results.items() if what != "npm packument")
    print(f"package page / packument: {ratios['p50']:.2f}x at p50, {ratios['p95']:.2f}x at p95 (goal <= 2x); "
          f"every page p95 < {GOAL_P95_MS:g} ms: {'yes' if pages_ok else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "ratios": ratios, "load_average": load,
                                               "args": vars(args)}, indent=2, default=str))
    return 0 if pages_ok and ratios["p95"] <= 2 and not any(r["errors"] for r in results.values()) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench_web: {error}", file=sys.stderr)
        sys.exit(2)

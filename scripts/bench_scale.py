#!/usr/bin/env python3
"""Past one machine, in figures (issue 14): one run of each, printed as a table and, with --json, kept.

  blob     Push and pull of one large layer (1 GiB by default) through one appliance node storing on
           local disk, then on S3 (moto's server on this machine), as skopeo moves a layer (POST, one
           PATCH, PUT ?digest=; GET through curl); MB/s each way and the largest growth of a gunicorn
           worker's resident memory meanwhile (target: under 100 MB: parts stream, nothing is held).
  npm      npm packument requests per second (wrk, 16 connections, 10 s) of a package with 100
           versions, and `npm install` of 50 packages into an empty project (a fresh cache), on SQLite
           and on PostgreSQL.
  nodes    Pull throughput of a 4 MiB layer at 16 connections (wrk over HTTPS) through nginx
           (config/nginx.conf.example) in front of 1 node, then 2 nodes sharing PostgreSQL and a store.
  growth   Cost of a publish and of a packument as the database grows: packages and versions seeded in
           bulk (COPY on PostgreSQL, executemany on SQLite) up to --packages / --versions, and
           at each step the median of a publish (a new version of a probe package) and of the packument
           requests after it (the first one rebuilt from the database, then cached). At the largest size,
           every SELECT those two requests run is EXPLAINed and any full scan of a table is printed.

Usage (from the repository root, in the venv): python3 scripts/bench_scale.py [--only blob,npm,nodes,growth]
  [--size-mb 1024] [--packages 100000 --versions 1000000] [--json FILE]

What it needs: wrk and curl (Debian), moto[server] (the test extra), PostgreSQL at 127.0.0.1:5432
trusting local connections (APPLIANCE_TEST_POSTGRESQL), npm, nginx and openssl. The machine has 2
cores: wrk, nginx, the nodes and moto share them, so read ratios rather than absolute figures, and
note the load average it prints.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import dataclasses
import gzip
import hashlib
import io
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import requests
from bench_docker import Registry, WorkerMemory, write_layer
from peewee import fn

from appliance.settings import Bootstrap
from tests.support.cluster import Cluster
from tests.support.databases import create_postgresql_database, drop_database
from tests.support.live import LiveAppliance
from tests.support.npm import Npm
from tests.support.s3 import MotoServer

MiB = 1024 * 1024
HOSTNAME = "bench.test"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bootstrap_on(home: Path, engine: str, **changes) -> Bootstrap:
    boot = Bootstrap.embedded_default(home)
    if engine == "postgresql":
        boot = dataclasses.replace(boot, database_url=create_postgresql_database())
    boot = dataclasses.replace(boot, **changes)
    boot.storage_path.mkdir(parents=True, exist_ok=True)
    return boot


def wrk(url: str, headers: dict[str, str], *, connections: int = 16, seconds: int = 10) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1, "KB": 1024, "MB": MiB, "GB": 1024 * MiB}[transfer.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": round(rate, 1), "mb_per_s": round(float(transfer.group(1)) * scale / 1e6, 1),
            "p50": re.search(r"50%\s+(\S+)", out).group(1), "non_2xx": int(errors.group(1)) if errors else 0}


# ---- npm documents ---------------------------------------------------------------------------------


def npm_tarball(name: str, version: str) -> bytes:
    manifest = json.dumps({"name": name, "version": version, "main": "index.js"}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member, data in (("package/package.json", manifest), ("package/index.js", b"module.exports = 1;\n")):
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def npm_publish_document(name: str, version: str, repository: str) -> dict:
    tarball = npm_tarball(name, version)
    filename = f"{name}-{version}.tgz"
    return {
        "_id": name, "name": name, "dist-tags": {"latest": version},
        "versions": {version: {
            "name": name, "version": version, "description": "bench", "repository": repository,
            "dist": {"integrity": "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode(),
                     "shasum": hashlib.sha1(tarball).hexdigest(), "tarball": f"http://x/{filename}"}}},
        "_attachments": {filename: {"content_type": "application/octet-stream",
                                    "data": base64.b64encode(tarball).decode(), "length": len(tarball)}},
    }


class NpmSite:
    """One node on the path layout at 127.0.0.1, with user `bench`, repository `bench/pkgs`, a token."""

    def __init__(self, node: LiveAppliance):
        self.node = node
        node.set("hostname", "127.0.0.1")
        node.set("subdomain_isolation", False)
        node.user("bench")
        node.repo("bench/pkgs", "public")
        self.token = node.token("bench")
        self.registry = f"{node.origin}/_registry/npm/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def url(self, name: str) -> str:
        return self.registry + name.replace("/", "%2f")

    def publish(self, name: str, version: str) -> float:
        document = npm_publish_document(name, version, "bench/pkgs")
        started = time.perf_counter()
        answer = self.session.put(self.url(name), json=document, timeout=60)
        elapsed = time.perf_counter() - started
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"publish {name}@{version}: {answer.status_code} {answer.text[:300]}")
        return elapsed

    def packument(self, name: str) -> float:
        started = time.perf_counter()
        answer = self.session.get(self.url(name), timeout=60)
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise RuntimeError(f"packument {name}: {answer.status_code}")
        return elapsed


# ---- blob: 1 GiB on local disk and on S3 -----------------------------------------------------------


def bench_blob(work: Path, size_mb: int, moto: MotoServer) -> dict:
    size = size_mb * MiB
    layer = work / "layer"
    results = {}
    for store in ("local", "s3"):
        home = work / f"blob-{store}"
        changes = {"storage_backend": "s3", "storage_options": moto.options(prefix="bench")} if store == "s3" else {}
        node = LiveAppliance(home, bootstrap=bootstrap_on(home, "sqlite", **changes))
        node.set("hostname", HOSTNAME)
        node.set("max_upload_bytes", 64 * 1024**3)
        node.user("bench")
        node.repo("bench/images")
        token = node.token("bench")
        node.start()
        try:
            basic = base64.b64encode(f"bench:{token}".encode()).decode()
            registry = Registry(store, node.port, f"docker.{HOSTNAME}:{node.port}", {"Authorization": f"Basic {basic}"})
            log(f"blob: writing a {size_mb} MiB layer, pushing and pulling it on {store}")
            digest = write_layer(layer, size)
            with WorkerMemory(node.process.pid) as memory:
                push = registry.push(layer, digest)
                pull = registry.pull(digest, size)
            results[store] = {"push_mb_s": round(size / push / 1e6, 1), "pull_mb_s": round(size / pull / 1e6, 1),
                              "worker_growth_mb": round(max(memory.growth_mb().values(), default=0.0), 1)}
            log(f"  {results[store]}")
        finally:
            node.stop()
            layer.unlink(missing_ok=True)
            drop_database(node.bootstrap.database_url)
    return {"layer_mib": size_mb, **results}


# ---- npm on SQLite and PostgreSQL ------------------------------------------------------------------


def bench_npm(work: Path) -> dict:
    results = {}
    for engine in ("sqlite", "postgresql"):
        home = work / f"npm-{engine}"
        node = LiveAppliance(home, bootstrap=bootstrap_on(home, engine))
        site = NpmSite(node)
        node.start()
        try:
            log(f"npm on {engine}: publishing 100 versions and 50 packages")
            for minor in range(100):
                site.publish("@bench/pkg", f"1.{minor}.0")
            for index in range(50):
                site.publish(f"@bench/dep{index}", "1.0.0")
            packument = wrk(site.url("@bench/pkg"), {"Authorization": f"Bearer {site.token}"})
            consumer = Npm(work / f"npm-consumer-{engine}", site.registry, "bench", site.token)
            (consumer.workdir / "package.json").write_text(json.dumps({
                "name": "consumer", "version": "1.0.0",
                "dependencies": {f"@bench/dep{i}": "^1.0.0" for i in range(50)}}))
            started = time.perf_counter()
            installed = consumer.run("install", timeout=600)
            install_seconds = time.perf_counter() - started
            if installed.returncode != 0:
                raise RuntimeError(f"npm install on {engine}: {installed.output[-2000:]}")
            results[engine] = {"packument": packument, "npm_install_50_s": round(install_seconds, 2)}
            log(f"  {results[engine]}")
        finally:
            node.stop()
            drop_database(node.bootstrap.database_url)
    return results


# ---- pull through nginx, 1 node and 2 nodes --------------------------------------------------------


def bench_nodes(work: Path) -> dict:
    results = {}
    for count in (1, 2):
        with Cluster(work / f"nodes-{count}", nodes=count) as cluster:
            first = cluster.nodes[0]
            first.user("bench")
            first.repo("bench/images", "public")
            token = first.token("bench")
            session = cluster.proxy.session()
            docker = cluster.proxy.url("docker")
            bearer = session.get(f"{docker}/token", params={"service": f"docker.{cluster.ca.hostname}",
                                                            "scope": "repository:bench/images/layer:push,pull"},
                                 auth=("bench", token), timeout=30).json()["token"]
            headers = {"Authorization": f"Bearer {bearer}"}
            blob = os.urandom(4 * MiB)
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            started = session.post(f"{docker}/v2/bench/images/layer/blobs/uploads/", headers=headers, timeout=60)
            finished = session.put(f"{docker}{started.headers['Location'].split(docker)[-1]}",
                                   params={"digest": digest}, data=blob, headers=headers, timeout=60)
            if finished.status_code != 201:
                raise RuntimeError(f"push through nginx: {finished.status_code} {finished.text[:300]}")
            host = f"docker.{cluster.ca.hostname}:{cluster.proxy.port}"
            log(f"nodes: pulling a 4 MiB layer through nginx in front of {count} node(s)")
            results[f"{count} node{'s' if count > 1 else ''}"] = wrk(
                f"https://127.0.0.1:{cluster.proxy.port}/v2/bench/images/layer/blobs/{digest}",
                {"Host": host, **headers})
            log(f"  {results}")
    return results


# ---- growth: publish and packument cost as the database grows --------------------------------------


def bulk_insert(table: str, columns: tuple[str, ...], rows) -> None:
    """`rows` into `table`: PostgreSQL's COPY, or SQLite's executemany, in the current transaction."""
    from appliance.db import database

    if database.param == "%s":
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_ALL).writerows(rows)  # quoted, "" is an empty string, not NULL
        buffer.seek(0)
        database.cursor().copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
    else:
        marks = ", ".join("?" for _ in columns)
        database.cursor().executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def seed(bootstrap: Bootstrap, packages: int, versions: int, start: int) -> None:
    """Packages `start`.. of owner `seed` in one repository, `versions // packages` versions each with one
    file (all sharing one blob), in bulk (COPY on PostgreSQL), one transaction per table; then ANALYZE,
    so that the planner knows the tables' new sizes."""
    from appliance.db import database, open_database
    from appliance.models import Account, Repository
    from appliance.models.base import utcnow
    from appliance.models.packages import Blob, Package, PackageVersion

    open_database(bootstrap.database_url)
    per_package = max(1, versions // max(packages, 1))
    with database.connection_context():
        owner = Account.get(Account.lower_login == "seed")
        repository = Repository.get((Repository.owner == owner) & (Repository.lower_name == "big"))
        now = utcnow()
        blob_id = Blob.insert(sha256="0" * 64, size=1).on_conflict_ignore().execute() or \
            Blob.get(Blob.sha256 == "0" * 64).id
        last_package = Package.select(fn.MAX(Package.id)).scalar() or 0
        last_version = PackageVersion.select(fn.MAX(PackageVersion.id)).scalar() or 0
        with database.atomic():
            bulk_insert("package", ("owner_id", "repository_id", "format", "name", "lower_name", "created_at",
                                    "updated_at"),
                        ((owner.id, repository.id, "npm", f"@seed/p{i}", f"@seed/p{i}", now, now)
                         for i in range(start, start + packages)))
        ids = [pid for (pid,) in Package.select(Package.id).where(Package.id > last_package).tuples()]
        with database.atomic():
            bulk_insert("package_version", ("package_id", "version", "lower_version", "metadata", "summary",
                                            "created_at", "updated_at", "search_title", "search_description",
                                            "search_keywords", "search_authors"),
                        ((package_id, f"1.{minor}.0", f"1.{minor}.0", '{"description": "seeded"}', "seeded", now,
                          now, "", "", "", "") for package_id in ids for minor in range(per_package)))
        p = database.param
        with database.atomic():
            database.execute_sql(
                "INSERT INTO package_file (version_id, name, lower_name, blob_id, content_type, created_at) "
                f"SELECT id, 'seed.tgz', 'seed.tgz', {p}, 'application/octet-stream', {p} FROM package_version "
                f"WHERE id > {p}", (blob_id, now, last_version))
        database.execute_sql("ANALYZE")
    database.close()


def explain_queries(bootstrap: Bootstrap, site: NpmSite, probe: str, version: str) -> list[str]:
    """Run a publish and a packument in this process, capture every SELECT they send, EXPLAIN each, and
    return the plans that scan a whole table."""
    from appliance import create_app
    from appliance.db import database

    captured: list[tuple[str, tuple]] = []

    class Capture(logging.Handler):
        def emit(self, record):
            if isinstance(record.msg, tuple) and str(record.msg[0]).lstrip().upper().startswith("SELECT"):
                captured.append(record.msg)

    logger = logging.getLogger("peewee")
    handler = Capture()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    app = create_app(bootstrap)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {site.token}"}
    path = f"/_registry/npm/{probe.replace('/', '%2f')}"
    try:
        answer = client.put(path, json=npm_publish_document(probe, version, "bench/pkgs"), headers=headers)
        assert answer.status_code in (200, 201), answer.get_data(as_text=True)[:300]
        assert client.get(path, headers=headers).status_code == 200
    finally:
        logger.removeHandler(handler)
    postgres = bootstrap.database_url.startswith("postgres")
    scans = []
    seen = set()
    with app.app_context():
        database.connect(reuse_if_open=True)
        for sql, params in captured:
            if sql in seen:
                continue
            seen.add(sql)
            plan = database.execute_sql(("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + sql, params).fetchall()
            text = "\n".join(" ".join(str(c) for c in row) for row in plan)
            full_scan = re.search(r"Seq Scan on (package\w*)", text) if postgres else \
                re.search(r"\bSCAN (package\w*)(?! USING)", text)
            if full_scan:
                scans.append(f"{full_scan.group(0)}: ...{sql[sql.find(' FROM '):][:400]}")
        database.close()
    log(f"  EXPLAINed {len(seen)} distinct SELECTs, {len(scans)} full scans of package tables")
    return scans


def bench_growth(work: Path, packages: int, versions: int, engines: list[str]) -> dict:
    steps = [0, packages // 100, packages // 10, packages]
    results = {}
    for engine in engines:
        home = work / f"growth-{engine}"
        bootstrap = bootstrap_on(home, engine)
        node = LiveAppliance(home, bootstrap=bootstrap)
        site = NpmSite(node)
        node.user("seed")
        node.repo("seed/big")
        node.start()
        rows = []
        try:
            seeded = 0
            for step, target in enumerate(steps):
                if target > seeded:
                    started = time.perf_counter()
                    seed(node.bootstrap, target - seeded, (target - seeded) * versions // packages, seeded)
                    log(f"growth on {engine}: seeded {target} packages in all ({time.perf_counter() - started:.0f} s)")
                    seeded = target
                publish, rebuilt, cached = [], [], []
                for i in range(20):
                    publish.append(site.publish("@bench/probe", f"{step}.{i}.0"))
                    rebuilt.append(site.packument("@bench/probe"))
                    cached.append(site.packument("@bench/probe"))
                new_package = [site.publish(f"@bench/new{step}-{i}", "1.0.0") for i in range(10)]
                row = {"packages": target, "versions": target * versions // packages if packages else 0,
                       "publish_ms": round(statistics.median(publish) * 1000, 1),
                       "new_package_publish_ms": round(statistics.median(new_package) * 1000, 1),
                       "packument_rebuilt_ms": round(statistics.median(rebuilt) * 1000, 1),
                       "packument_cached_ms": round(statistics.median(cached) * 1000, 1)}
                rows.append(row)
                log(f"  {row}")
            node.stop()
            scans = explain_queries(node.bootstrap, site, "@bench/probe", "99.0.0")
            results[engine] = {"steps": rows, "full_scans": scans}
        finally:
            node.stop()
            drop_database(node.bootstrap.database_url)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="blob,npm,nodes,growth")
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--growth-engines", default="postgresql,sqlite")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    parts = args.only.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    results = {"load_average_before": os.getloadavg()}
    moto = None
    try:
        if "blob" in parts:
            moto = MotoServer(work / "moto.log").start()
            results["blob"] = bench_blob(work, args.size_mb, moto)
        if "npm" in parts:
            results["npm"] = bench_npm(work)
        if "nodes" in parts:
            results["nodes"] = bench_nodes(work)
        if "growth" in parts:
            results["growth"] = bench_growth(work, args.packages, args.versions, args.growth_engines.split(","))
    finally:
        if moto is not None:
            moto.stop()
        results["load_average_after"] = os.getloadavg()
        with contextlib.suppress(OSError):
            subprocess.run(["rm", "-rf", str(work)], check=False)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

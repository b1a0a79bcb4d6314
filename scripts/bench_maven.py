#!/usr/bin/env python3
"""Maven resolve benchmark: the real `mvn` resolving 50 artifacts from the appliance into a cold local
repository, side by side with the same files served by nginx (a static file server: the ceiling for
serving a Maven layout over HTTP) and read from a file:// repository (no HTTP at all: mvn's own cost).

It starts a fresh appliance (gunicorn, in a temp APPLIANCE_HOME, path layout on 127.0.0.1), deploys
--artifacts (50) artifacts `com.bench:lib-NN:1.0` to it over HTTP as mvn does (pom, jar and their
.sha1/.md5), writes the same bytes as a static Maven layout, and builds a consumer project that depends
on all of them with `mvn compile`. Every run starts from a copy of a local repository that holds only
Debian's Maven plugins (warmed once from file:///usr/share/maven-repo, as in tests/support/maven.py), so
the 50 artifacts are always cold: mvn fetches each pom, pom.sha1, jar and jar.sha1 (200 requests).

It prints, per source: the median wall time of --runs (5) `mvn compile` runs and their spread, the
time above the no-dependency baseline (the same build with no dependencies: JVM start, plugins), that
time per artifact, and for the appliance the requests it served per run (from gunicorn's access log:
mvn 3.8 sends credentials only after a 401, so a private repository adds one challenge per connection).

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_maven.py                     # ~2 min on 2 cores
    python3 scripts/bench_maven.py --runs 3 --json bench-maven.json
    python3 scripts/bench_maven.py --no-nginx          # skip the nginx column

What it needs: mvn and Debian's plugin packages (scripts/install-test-deps.sh installs them); nginx
(Debian) for its column, installed with `apt-get install -y nginx` when missing and running as root.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.support.live import LiveAppliance, free_port
from tests.support.maven import maven_registry, run_mvn, write_project, write_settings

GROUP = "com.bench"
VERSION = "1.0"


def make_jar(index: int, size_kb: int) -> bytes:
    """A real jar (javac reads every jar on the classpath) with `size_kb` of incompressible resources."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: bench_maven\r\n\r\n")
        seed = hashlib.sha256(f"lib-{index}".encode()).digest()
        blocks = (seed * (size_kb * 1024 // len(seed) + 1))[: size_kb * 1024]
        noise = bytes(b ^ (i * 131 % 251) for i, b in enumerate(blocks))
        jar.writestr(f"com/bench/lib{index}/data.bin", noise)
    return buffer.getvalue()


def make_pom(artifact: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        f"  <modelVersion>4.0.0</modelVersion>\n  <groupId>{GROUP}</groupId>\n  <artifactId>{artifact}</artifactId>\n"
        f"  <version>{VERSION}</version>\n  <description>benchmark artifact</description>\n</project>\n"
    ).encode()


def artifacts(count: int, size_kb: int) -> dict[str, dict[str, bytes]]:
    """{artifactId: {file name: bytes}} with each file's .sha1 and .md5, as mvn deploy sends them."""
    result = {}
    for index in range(count):
        artifact = f"lib-{index:02d}"
        files = {
            f"{artifact}-{VERSION}.pom": make_pom(artifact),
            f"{artifact}-{VERSION}.jar": make_jar(index, size_kb),
        }
        for name, data in list(files.items()):
            files[f"{name}.sha1"] = hashlib.sha1(data).hexdigest().encode()
            files[f"{name}.md5"] = hashlib.md5(data).hexdigest().encode()
        result[artifact] = files
    return result


def write_static(root: Path, content: dict[str, dict[str, bytes]]) -> None:
    for artifact, files in content.items():
        directory = root / GROUP.replace(".", "/") / artifact / VERSION
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (directory / name).write_bytes(data)


def deploy(registry: str, token: str, content: dict[str, dict[str, bytes]]) -> None:
    with requests.Session() as session:
        session.auth = ("bench", token)
        for artifact, files in content.items():
            for name, data in files.items():
                url = f"{registry}/{GROUP.replace('.', '/')}/{artifact}/{VERSION}/{name}"
                response = session.put(url, data=data, timeout=30)
                response.raise_for_status()


def start_nginx(root: Path, work: Path) -> tuple[subprocess.Popen, str]:
    if shutil.which("nginx") is None:
        if os.geteuid() != 0:
            raise SystemExit("nginx is not installed: apt-get install -y nginx, or run with --no-nginx")
        subprocess.run(["apt-get", "install", "-y", "-q", "nginx"], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    (work / "nginx").mkdir(exist_ok=True)
    conf = work / "nginx" / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes 2;
pid {work}/nginx/nginx.pid;
error_log {work}/nginx/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    types {{ application/java-archive jar; application/xml pom xml; text/plain sha1 md5; }}
    client_body_temp_path {work}/nginx/body;
    proxy_temp_path {work}/nginx/proxy;
    fastcgi_temp_path {work}/nginx/fastcgi;
    uwsgi_temp_path {work}/nginx/uwsgi;
    scgi_temp_path {work}/nginx/scgi;
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work / "nginx")])
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process, f"http://127.0.0.1:{port}"
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("nginx did not start")


def consumer(work: Path, name: str, registry: str, artifact_ids: list[str]) -> Path:
    return write_project(
        work / name,
        group_id="com.bench",
        artifact_id=f"consumer-{name}",
        version="1.0",
        registry=registry,
        java_class="com.bench.app.App",
        java_source="package com.bench.app;\npublic class App { public static void main(String[] a) {} }\n",
        dependencies=[(GROUP, artifact, VERSION) for artifact in artifact_ids],
    )


def timed_runs(
    project: Path,
    settings: Path,
    warm: Path,
    work: Path,
    runs: int,
    expect: list[str],
    log: Path | None = None,
) -> tuple[list[float], list[int]]:
    times, requests_served = [], []
    for run in range(runs):
        local = work / f"m2-run-{project.name}-{run}"
        shutil.rmtree(local, ignore_errors=True)
        shutil.copytree(warm, local)
        lines_before = len(log.read_text().splitlines()) if log else 0
        started = time.perf_counter()
        result = run_mvn(project, settings, "-q", "compile", local_repository=local)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"mvn failed for {project.name}:\n{result.output[-4000:]}")
        for artifact in expect:
            jar = local / GROUP.replace(".", "/") / artifact / VERSION / f"{artifact}-{VERSION}.jar"
            if not jar.is_file():
                raise SystemExit(f"{jar} was not resolved")
        if log:
            time.sleep(0.2)  # gunicorn flushes its access log line after the response
            requests_served.append(
                sum(1 for line in log.read_text().splitlines()[lines_before:] if "/_registry/maven/" in line)
            )
        times.append(elapsed)
        shutil.rmtree(local, ignore_errors=True)
    return times, requests_served


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_maven.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--artifacts", type=int, default=50)
    parser.add_argument("--jar-kb", type=int, default=32, help="size of each jar's payload (default 32 KiB)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of the appliance")
    parser.add_argument(
        "--visibility",
        choices=("private", "public"),
        default="private",
        help="of the appliance's repository: mvn sends no credentials until a 401 asks for "
        "them, so a private repository costs one more request per connection",
    )
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    if shutil.which("mvn") is None:
        raise SystemExit("mvn is not installed: scripts/install-test-deps.sh installs it")

    work = Path(tempfile.mkdtemp(prefix="bench-maven-"))
    work.chmod(0o755)  # nginx's workers run as another user and read the static layout below it
    appliance = LiveAppliance(work / "home", workers=args.workers)
    nginx = None
    try:
        appliance.set("hostname", "127.0.0.1")
        appliance.set("subdomain_isolation", False)
        appliance.start()
        appliance.user("bench")
        appliance.repo("bench/libs", args.visibility)
        token = appliance.token("bench")
        registry = maven_registry(appliance.origin, "bench", "libs")
        content = artifacts(args.artifacts, args.jar_kb)
        started = time.perf_counter()
        deploy(registry, token, content)
        deploy_seconds = time.perf_counter() - started
        static = work / "static"
        write_static(static, content)
        ids = list(content)
        settings = write_settings(work / "settings.xml", work / "m2-unused", "bench", token)

        # Debian's plugins into a local repository once; every timed run starts from a copy of it.
        warm = work / "m2-warm"
        baseline_project = consumer(work, "baseline", static.as_uri(), [])
        warmed = run_mvn(baseline_project, settings, "-q", "compile", local_repository=warm)
        if warmed.returncode != 0:
            raise SystemExit(f"warming the plugins failed:\n{warmed.output[-4000:]}")

        sources = {"appliance": registry, "file://": static.as_uri()}
        if not args.no_nginx:
            nginx, nginx_url = start_nginx(static, work)
            sources["nginx (static)"] = nginx_url
        figures = {}
        baseline, _ = timed_runs(baseline_project, settings, warm, work, args.runs, [])
        figures["no dependencies"] = {"seconds": baseline}
        for name, url in sources.items():
            project = consumer(work, name.split()[0].strip(":/"), url, ids)
            log = appliance.log_path if name == "appliance" else None
            times, served = timed_runs(project, settings, warm, work, args.runs, ids, log)
            figures[name] = {"seconds": times, "requests": served}
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
        appliance.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    base = statistics.median(figures["no dependencies"]["seconds"])
    print(
        f"mvn compile resolving {args.artifacts} artifacts ({args.jar_kb} KiB jars) into a cold local repository,"
        f" median of {args.runs} runs; appliance: {args.workers} gunicorn workers, {args.visibility} repository"
    )
    print(f"deploying them to the appliance over HTTP (pom, jar, .sha1, .md5 each): {deploy_seconds:.2f} s")
    print(
        f"{'source':<18} {'median s':>9} {'min..max s':>13} {'above baseline s':>17} {'ms/artifact':>12} "
        f"{'requests':>9}"
    )
    for name, figure in figures.items():
        seconds = figure["seconds"]
        median = statistics.median(seconds)
        above = median - base if name != "no dependencies" else 0.0
        per_artifact = f"{above / args.artifacts * 1000:.1f}" if name != "no dependencies" else "-"
        served = figure.get("requests")
        print(
            f"{name:<18} {median:>9.2f} {min(seconds):>6.2f}..{max(seconds):<6.2f} {above:>17.2f} "
            f"{per_artifact:>12} {(str(statistics.median(served)) if served else '-'):>9}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "artifacts": args.artifacts,
                    "jar_kb": args.jar_kb,
                    "runs": args.runs,
                    "deploy_seconds": deploy_seconds,
                    "figures": figures,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Side-by-side npm registry benchmark: the appliance against Verdaccio 5.

It starts a fresh appliance (gunicorn, in a temp APPLIANCE_HOME) and a fresh Verdaccio 5.33.0, publishes
the same bytes to both over HTTP (the document `npm publish` sends), then measures with `wrk`:

  1. packument requests per second of one scoped package with 100 versions (`@bench/pkg`), full
     (`Accept: application/json`) and abbreviated (`Accept: application/vnd.npm.install-v1+json`);
  2. tarball download throughput (MB/s, 10^6 bytes) of one large tarball (`@bench/big`, 20 MB of random
     data inside a real .tgz), from the `dist.tarball` URL each server puts in its packument.

It prints a table with both figures and the ratio appliance/verdaccio (the target: the appliance serves
packuments at least 2x as fast as Verdaccio), and writes every parsed wrk figure as JSON with `--json`.

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_npm.py                          # everything, ~4 min on 2 cores
    python3 scripts/bench_npm.py --json bench.json        # also write the figures as JSON
    python3 scripts/bench_npm.py --only verdaccio         # one server alone (or --only appliance)
    python3 scripts/bench_npm.py --workers 4 --threads 4  # passed to `appliance serve`
    python3 scripts/bench_npm.py --profile 500            # then profile 500 packument requests in-process

What it needs, and where it comes from:
  - wrk (Debian): installed with `apt-get install -y wrk` when missing and running as root; otherwise
    install it yourself.
  - Verdaccio 5.33.0 (node 20; Verdaccio 6 needs node 22): `npm install` of scripts/bench/verdaccio/
    package.json into ~/.cache/appliance-bench/verdaccio (or --verdaccio-dir), once, then reused. That
    package.json overrides node-fetch to 2.7.0 because the npm registry copy here lacks the `cjs`
    dist-tag Verdaccio 5 asks for. Its config is scripts/bench/verdaccio/config.yaml.template.

How it measures: each figure is --runs (3) runs of wrk with --wrk-threads (2) threads and --connections
(16) keep-alive connections for --duration (10) seconds, after one --warmup (2 s) run; the table shows
the median run and the spread. Each run is a fresh wrk, so fresh connections: gunicorn's workers share
one listening socket and a keep-alive connection stays with the worker that accepted it, so one run can
have all 16 connections on one worker (one core, under one GIL) and the next split 8/8. The CPU time
the server's processes spent in each run (from /proc) gives CPU ms per request, and for the appliance
the share of each worker, printed under the table. Reads send the publishing user's token
(`Authorization: Bearer`) as npm does with an `_authToken` in .npmrc (`--anonymous-reads` sends none)
and no Accept-Encoding (identity bodies: what is measured is the server, not gzip; `--accept-encoding
gzip` asks for compression). wrk runs on the same machine as the servers and takes its share of the
CPUs; servers run one at a time. Both log one line per request with their default logging, to files in
the temp dir (kept with --keep or after a failure, with each server's packuments as it answered them).
The appliance runs with --workers x --threads (default 2 x 4, as `appliance serve`) gthread workers; Verdaccio is one node
process.

--profile N then loads the appliance in this process (Flask's test client, no HTTP, no gunicorn) and
times N packument requests, then profiles them with cProfile: the warm path (served from the worker's
packument cache) and a few with that cache emptied (the packument rebuilt from the database).
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent / "bench"
VERDACCIO_FILES = BENCH_DIR / "verdaccio"
DEFAULT_VERDACCIO_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "appliance-bench" / "verdaccio"

SCOPE = "bench"
PACKAGE = f"@{SCOPE}/pkg"
BIG_PACKAGE = f"@{SCOPE}/big"
USER = "bench"
PASSWORD = "bench-password-1"
ABBREVIATED = "application/vnd.npm.install-v1+json"
FULL = "application/json"
FIXED_MTIME = 1_700_000_000


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """Something the benchmark could not do; the message says which request failed and how."""


# ---- tools ---------------------------------------------------------------------------------------


def ensure_wrk(install: bool) -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        result = subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, check=False)
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=False)
        path = shutil.which("wrk")
        if path:
            return path
    raise BenchError("wrk is not installed: run `apt-get install -y wrk` (Debian) and try again")


def ensure_verdaccio(cache_dir: Path) -> Path:
    """Verdaccio installed from scripts/bench/verdaccio/package.json into cache_dir, once."""
    wanted = (VERDACCIO_FILES / "package.json").read_text()
    entry = cache_dir / "node_modules" / "verdaccio" / "bin" / "verdaccio"
    installed = cache_dir / "package.json"
    if entry.exists() and installed.exists() and installed.read_text() == wanted:
        return entry
    if not shutil.which("npm"):
        raise BenchError("npm is not installed; Verdaccio needs node 20 and npm")
    log(f"installing Verdaccio into {cache_dir} (once)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    installed.write_text(wanted)
    result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"],
                            cwd=cache_dir, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not entry.exists():
        installed.unlink(missing_ok=True)
        raise BenchError(f"npm install of Verdaccio failed in {cache_dir}:\n{result.stdout}\n{result.stderr}")
    return entry


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def call(base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 120) -> Answer:
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def describe(answer: Answer, limit: int = 500) -> str:
    text = answer.body[:limit].decode("utf-8", "replace")
    return f"HTTP {answer.status}, body: {text!r}"


def wait_until_up(base: str, path: str, process: subprocess.Popen, log_file: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the server exited with {process.returncode} before answering; log:\n"
                             f"{tail(log_file)}")
        with contextlib.suppress(OSError):
            if call(base, "GET", path, timeout=2).status == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"{base}{path} did not answer 200 within {timeout:.0f} s; log:\n{tail(log_file)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen | None) -> None:
    """SIGTERM to the process group this script started, SIGKILL if it does not go."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# ---- the packages --------------------------------------------------------------------------------


@dataclass
class Tarball:
    name: str
    version: str
    manifest: dict
    readme: str
    data: bytes
    sha1: str = field(init=False)
    integrity: str = field(init=False)

    def __post_init__(self):
        self.sha1 = hashlib.sha1(self.data).hexdigest()
        self.integrity = "sha512-" + base64.b64encode(hashlib.sha512(self.data).digest()).decode()

    @property
    def filename(self) -> str:
        return f"{self.name.split('/', 1)[1]}-{self.version}.tgz"


def make_tgz(files: dict[str, bytes]) -> bytes:
    """A real npm tarball: gzip of a tar whose entries live under package/. Same input, same bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(f"package/{path}")
            info.size = len(content)
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def words(rng: random.Random, count: int) -> str:
    vocabulary = ["registry", "package", "version", "tarball", "install", "publish", "scope", "token", "dependency", "resolve", "cache", "stream", "manifest", "integrity", "checksum", "semver", "range", "peer", "optional", "bundle", "workspace", "lockfile", "mirror", "proxy", "upstream", "fetch", "retry", "timeout", "header", "digest", "archive", "release", "channel"]
    return " ".join(rng.choice(vocabulary) for _ in range(count))


def realistic_versions(name: str, count: int, seed: int = 1) -> list[Tarball]:
    """`count` versions of `name`, each with dependencies, a ~2 KB readme and a ~500 byte description."""
    rng = random.Random(seed)
    deps = ["lodash", "debug", "semver", "minimatch", "chalk", "commander", "glob", "yargs", "uuid",
            "ms", "rimraf", "mkdirp", "tslib", "axios", "express", "qs", "ws", "mime"]
    dev = ["typescript", "eslint", "prettier", "mocha", "chai", "sinon", "nyc", "@types/node"]
    result = []
    for i in range(count):
        version = f"1.{i // 10}.{i % 10}"
        readme = (f"# {name}\n\nVersion {version}.\n\n" +
                  "\n\n".join(f"## {words(rng, 3).title()}\n\n{words(rng, 50)}." for _ in range(6)) + "\n")
        manifest = {
            "name": name,
            "version": version,
            "description": words(rng, 60),
            "main": "index.js",
            "types": "index.d.ts",
            "scripts": {"test": "mocha", "build": "tsc -p .", "lint": "eslint ."},
            "keywords": sorted(set(words(rng, 8).split())),
            "author": "Bench Author <bench@example.com>",
            "license": "MIT",
            "homepage": f"https://example.com/{SCOPE}/pkg#readme",
            "bugs": {"url": f"https://example.com/{SCOPE}/pkg/issues"},
            "engines": {"node": ">=18"},
            "dependencies": {d: f"^{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
                             for d in rng.sample(deps, 8)},
            "devDependencies": {d: f"^{rng.randint(1, 9)}.{rng.randint(0, 20)}.0" for d in dev},
            "peerDependencies": {"react": ">=17"},
            "peerDependenciesMeta": {"react": {"optional": True}},
            "files": ["index.js", "index.d.ts", "README.md"],
        }
        code = f"'use strict';\n// {words(rng, 40)}\nmodule.exports = {{ version: '{version}' }};\n"
        data = make_tgz({
            "package.json": json.dumps(manifest, indent=2).encode(),
            "README.md": readme.encode(),
            "index.js": code.encode(),
            "index.d.ts": b"export declare const version: string;\n",
        })
        result.append(Tarball(name, version, manifest, readme, data))
    return result


def big_tarball(name: str, megabytes: int, seed: int = 2) -> Tarball:
    """One version whose tarball holds `megabytes` MB (10^6) of random, so incompressible, data."""
    manifest = {"name": name, "version": "1.0.0", "description": "a large tarball for the benchmark",
                "main": "index.js", "license": "MIT"}
    data = make_tgz({
        "package.json": json.dumps(manifest, indent=2).encode(),
        "index.js": b"module.exports = require('path').join(__dirname, 'data.bin');\n",
        "data.bin": random.Random(seed).randbytes(megabytes * 1_000_000),
    })
    return Tarball(name, "1.0.0", manifest, "# big\n", data)


def publish_document(tarball: Tarball, registry: str) -> bytes:
    """The JSON body `npm publish` sends."""
    version = dict(tarball.manifest)
    version.update({
        "readme": tarball.readme,
        "_id": f"{tarball.name}@{tarball.version}",
        "_nodeVersion": "20.0.0",
        "_npmVersion": "11.0.0",
        "dist": {
            "shasum": tarball.sha1,
            "integrity": tarball.integrity,
            "tarball": f"{registry}{tarball.name}/-/{tarball.filename}",
        },
    })
    document = {
        "_id": tarball.name,
        "name": tarball.name,
        "description": tarball.manifest.get("description", ""),
        "dist-tags": {"latest": tarball.version},
        "versions": {tarball.version: version},
        "readme": tarball.readme,
        "access": None,
        "_attachments": {
            f"{tarball.name}-{tarball.version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(tarball.data).decode(),
                "length": len(tarball.data),
            },
        },
    }
    return json.dumps(document).encode()


def package_path(prefix: str, name: str) -> str:
    """`/prefix/@scope%2fname`, as npm asks for a scoped package."""
    return prefix + name.replace("/", "%2f")


# ---- the servers ---------------------------------------------------------------------------------


class Server:
    label = ""
    base = ""          # http://127.0.0.1:PORT
    prefix = "/"       # the registry's path, ending in /
    token = ""
    process: subprocess.Popen | None = None
    log_file: Path

    @property
    def registry(self) -> str:
        return self.base + self.prefix

    def auth_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def publish(self, tarball: Tarball) -> None:
        body = publish_document(tarball, self.registry)
        path = package_path(self.prefix, tarball.name)
        headers = {**self.auth_headers(), "Content-Type": "application/json", "Accept": "*/*",
                   "npm-command": "publish"}
        answer = call(self.base, "PUT", path, body=body, headers=headers, timeout=600)
        if answer.status not in (200, 201):
            raise BenchError(f"{self.label}: PUT {path} (publish {tarball.name}@{tarball.version}, "
                             f"{len(body)} bytes) failed: {describe(answer)}")

    def stop(self) -> None:
        stop(self.process)
        self.process = None


class Appliance(Server):
    label = "appliance"
    prefix = "/_registry/npm/"

    def __init__(self, home: Path, workers: int, threads: int):
        self.home = home
        self.workers = workers
        self.threads = threads
        self.log_file = home.parent / "appliance.log"
        self.env = {**os.environ, "APPLIANCE_HOME": str(home), "PYTHONUNBUFFERED": "1"}

    def cli(self, *args: str) -> str:
        command = [sys.executable, "-m", "appliance", *args]
        result = subprocess.run(command, cwd=REPO_ROOT, env=self.env, capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise BenchError(f"appliance: `appliance {' '.join(args)}` exited with {result.returncode}:\n"
                             f"{result.stdout}{result.stderr}")
        return result.stdout

    def start(self) -> None:
        self.home.mkdir(parents=True)
        self.cli("init")
        self.cli("users", "create", USER)
        self.cli("repos", "create", f"{SCOPE}/pkg")
        self.cli("repos", "create", f"{SCOPE}/big")
        self.token = self.cli("tokens", "create", USER, "--scopes", "read:packages,write:packages").strip()
        self.cli("config", "set", "hostname", "127.0.0.1")
        self.cli("config", "set", "subdomain_isolation", "false")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "appliance", "serve", "--bind", f"127.0.0.1:{port}",
                   "--workers", str(self.workers), "--threads", str(self.threads)]
        with open(self.log_file, "wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(self.base, "/_health", self.process, self.log_file)


class Verdaccio(Server):
    label = "verdaccio"
    prefix = "/"

    def __init__(self, workdir: Path, entry: Path, max_body_mb: int):
        self.workdir = workdir
        self.entry = entry
        self.max_body_mb = max_body_mb
        self.log_file = workdir.parent / "verdaccio.log"

    def start(self) -> None:
        self.workdir.mkdir(parents=True)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        template = string.Template((VERDACCIO_FILES / "config.yaml.template").read_text())
        config = self.workdir / "config.yaml"
        config.write_text(template.substitute(
            storage=json.dumps(str(self.workdir / "storage")),
            htpasswd=json.dumps(str(self.workdir / "htpasswd")),
            listen=f"127.0.0.1:{port}",
            max_body_size=f"{self.max_body_mb}mb",
        ))
        with open(self.log_file, "wb") as out:
            self.process = subprocess.Popen(
                ["node", str(self.entry), "--config", str(config)], cwd=self.workdir, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(self.base, "/-/ping", self.process, self.log_file)
        # Register the publishing user; Verdaccio answers with its token.
        body = json.dumps({"_id": f"org.couchdb.user:{USER}", "name": USER, "password": PASSWORD,
                           "type": "user", "roles": [], "date": "2024-01-01T00:00:00.000Z"}).encode()
        path = f"/-/user/org.couchdb.user:{USER}"
        answer = call(self.base, "PUT", path, body=body, headers={"Content-Type": "application/json"})
        if answer.status not in (200, 201) or "token" not in answer.json():
            raise BenchError(f"verdaccio: PUT {path} (register {USER}) failed: {describe(answer)}")
        self.token = answer.json()["token"]


# ---- wrk -----------------------------------------------------------------------------------------

UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def parse_time_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * TIME_UNITS[match.group(2)]


def parse_wrk(output: str) -> dict:
    result: dict = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise BenchError(f"no Requests/sec in wrk's output:\n{output}")
    result["requests_per_sec"] = float(match.group(1))
    match = re.search(r"Transfer/sec:\s+([\d.]+)([KMGT]?)B", output)
    result["transfer_bytes_per_sec"] = float(match.group(1)) * UNITS[match.group(2)] if match else None
    match = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+)([KMGT]?)B read", output)
    if match:
        result["requests"] = int(match.group(1))
        result["bytes_read"] = float(match.group(3)) * UNITS[match.group(4)]
    match = re.search(r"Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)", output)
    if match:
        result["latency_avg_ms"] = parse_time_ms(match.group(1))
        result["latency_max_ms"] = parse_time_ms(match.group(3))
    for percentile in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+\w+)", output, re.MULTILINE)
        if match:
            result[f"latency_p{percentile}_ms"] = parse_time_ms(match.group(1))
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = ({"connect": int(match.group(1)), "read": int(match.group(2)),
                                "write": int(match.group(3)), "timeout": int(match.group(4))}
                               if match else {})
    return result


def run_wrk(wrk: str, url: str, headers: dict, *, threads: int, connections: int, duration: float,
            timeout: float = 30) -> dict:
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", f"--timeout={timeout:g}s",
               "--latency"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    command.append(url)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({result.returncode}): {result.stderr}{result.stdout}")
    figures = parse_wrk(result.stdout)
    figures["wrk_output"] = result.stdout
    return figures


# ---- the run -------------------------------------------------------------------------------------


def read_headers(server: Server, args, accept: str) -> dict:
    headers = {"Accept": accept}
    if not args.anonymous_reads:
        headers.update(server.auth_headers())
    if args.accept_encoding:
        headers["Accept-Encoding"] = args.accept_encoding
    return headers


def check_packument(server: Server, args, accept: str, expected_versions: int) -> dict:
    """One request by hand: it must be a 200 packument of every version, else the figures mean nothing."""
    path = package_path(server.prefix, PACKAGE)
    answer = call(server.base, "GET", path, headers=read_headers(server, args, accept))
    if answer.status != 200:
        raise BenchError(f"{server.label}: GET {path} (Accept: {accept}) failed: {describe(answer)}")
    body = answer.body
    if answer.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    document = json.loads(body)
    # Kept next to the server logs (see --keep), to compare what each server answers.
    kind = "abbreviated" if accept == ABBREVIATED else "full"
    (server.log_file.parent / f"{server.label}-packument-{kind}.json").write_bytes(body)
    count = len(document.get("versions", {}))
    if count != expected_versions:
        raise BenchError(f"{server.label}: GET {path} (Accept: {accept}) has {count} versions, "
                         f"not {expected_versions}")
    return {"status": answer.status, "content_type": answer.headers.get("content-type"),
            "bytes_on_wire": len(answer.body), "bytes": len(body), "versions": count}


def tarball_url(server: Server, args, tarball: Tarball) -> str:
    """The tarball URL the server itself announces, checked to serve the published bytes."""
    path = package_path(server.prefix, tarball.name)
    answer = call(server.base, "GET", path, headers=read_headers(server, args, ABBREVIATED))
    if answer.status != 200:
        raise BenchError(f"{server.label}: GET {path} failed: {describe(answer)}")
    url = answer.json()["versions"][tarball.version]["dist"]["tarball"]
    parts = urllib.parse.urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != server.base:
        raise BenchError(f"{server.label}: the packument's tarball URL {url} is not on {server.base}")
    headers = read_headers(server, args, "*/*")
    headers.pop("Accept-Encoding", None)
    got = call(server.base, "GET", parts.path, headers=headers, timeout=300)
    if got.status != 200 or hashlib.sha1(got.body).hexdigest() != tarball.sha1:
        raise BenchError(f"{server.label}: GET {parts.path} did not return the published tarball: "
                         f"{describe(got, 200) if got.status != 200 else f'{len(got.body)} bytes, wrong sha1'}")
    return url


def group_cpu(pgid: int) -> dict[int, float]:
    """CPU seconds (user + system) of every live process in the process group, by pid."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            result[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return result


def measured_run(server: Server, wrk: str, url: str, headers: dict, *, threads: int, connections: int,
                 duration: float, timeout: float = 30) -> dict:
    """One wrk run, with the CPU time the server's processes spent during it."""
    before = group_cpu(server.process.pid)
    figures = run_wrk(wrk, url, headers, threads=threads, connections=connections, duration=duration,
                      timeout=timeout)
    after = group_cpu(server.process.pid)
    per_process = {pid: round(after[pid] - before.get(pid, 0.0), 2) for pid in after}
    busy = {pid: cpu for pid, cpu in per_process.items() if cpu > 0}
    total = sum(busy.values())
    figures["server_cpu_seconds"] = round(total, 2)
    figures["server_cpu_by_pid"] = busy
    figures["server_cpu_ms_per_request"] = (total * 1000 / figures["requests"]) if figures.get("requests") else None
    figures["server_cpu_cores"] = total / duration
    return figures


def median_of(runs: list[dict]) -> dict:
    """The run with the median requests/sec (the lower middle one for an even count), and the spread."""
    ordered = sorted(runs, key=lambda r: r["requests_per_sec"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["runs_requests_per_sec"] = [r["requests_per_sec"] for r in runs]
    chosen["runs"] = runs
    return chosen


def repeated(server: Server, args, wrk: str, url: str, headers: dict, connections: int, what: str,
             timeout: float = 30) -> dict:
    if args.warmup > 0:
        run_wrk(wrk, url, headers, threads=args.wrk_threads, connections=connections, duration=args.warmup,
                timeout=timeout)
    runs = []
    for number in range(args.runs):
        # A fresh wrk each time: new connections, which the server's workers share out anew.
        figures = measured_run(server, wrk, url, headers, threads=args.wrk_threads, connections=connections,
                               duration=args.duration, timeout=timeout)
        log(f"{server.label}: {what}, run {number + 1}/{args.runs}: {figures['requests_per_sec']:.1f} req/s, "
            f"server CPU {figures['server_cpu_cores']:.2f} cores "
            f"({' / '.join(f'{c:.1f}' for c in sorted(figures['server_cpu_by_pid'].values(), reverse=True))} s)")
        runs.append(figures)
    return median_of(runs)


def measure(server: Server, args, wrk: str, versions: list[Tarball], big: Tarball) -> dict:
    log(f"{server.label}: publishing {len(versions)} versions of {PACKAGE} and {BIG_PACKAGE} "
        f"({len(big.data) / 1e6:.1f} MB)")
    started = time.monotonic()
    for tarball in versions:
        server.publish(tarball)
    publish_seconds = time.monotonic() - started
    server.publish(big)
    results: dict = {"publish_seconds_per_version": publish_seconds / len(versions), "packument": {}}
    url = server.base + package_path(server.prefix, PACKAGE)
    for kind, accept in (("full", FULL), ("abbreviated", ABBREVIATED)):
        check = check_packument(server, args, accept, len(versions))
        headers = read_headers(server, args, accept)
        log(f"{server.label}: packument {kind} ({check['bytes']} bytes), {args.runs} x {args.duration:g} s")
        figures = repeated(server, args, wrk, url, headers, args.connections, f"packument {kind}")
        results["packument"][kind] = {**check, **figures}
    url = tarball_url(server, args, big)
    headers = read_headers(server, args, "*/*")
    headers.pop("Accept-Encoding", None)
    log(f"{server.label}: tarball {len(big.data)} bytes, {args.runs} x {args.duration:g} s")
    figures = repeated(server, args, wrk, url, headers, args.tarball_connections, "tarball", timeout=120)
    for run in [figures, *figures["runs"]]:
        # wrk's Transfer/sec (headers included) and completed responses times the tarball's size.
        run["transfer_mb_per_sec"] = (run["transfer_bytes_per_sec"] or 0) / 1e6
        run["payload_mb_per_sec"] = run["requests_per_sec"] * len(big.data) / 1e6
    results["tarball"] = {"url": url, "bytes": len(big.data), **figures}
    return results


def errors_of(figures: dict) -> int:
    return sum(r.get("non_2xx", 0) + sum(r.get("socket_errors", {}).values()) for r in figures.get("runs", [figures]))


def print_table(args, results: dict, cpus: int, load: tuple) -> None:
    servers = [s for s in ("appliance", "verdaccio") if s in results]
    rows = []

    def row(label, getter, fmt, ratio=True):
        values = []
        for name in servers:
            try:
                values.append(getter(results[name]))
            except (KeyError, TypeError):
                values.append(None)
        cells = [(fmt(v) if callable(fmt) else fmt.format(v)) if v is not None else "-" for v in values]
        text = ""
        if ratio and len(values) == 2 and all(isinstance(v, (int, float)) and v for v in values):
            text = f"{values[0] / values[1]:.2f}x"
        rows.append((label, *cells, text))

    def spread(values):
        return f"{min(values):.0f}-{max(values):.0f}"

    pk = lambda kind, key: lambda r: r["packument"][kind][key]
    row("packument full (req/s)", pk("full", "requests_per_sec"), "{:.1f}")
    row("  runs, min-max", pk("full", "runs_requests_per_sec"), spread, ratio=False)
    row("packument abbreviated (req/s)", pk("abbreviated", "requests_per_sec"), "{:.1f}")
    row("  runs, min-max", pk("abbreviated", "runs_requests_per_sec"), spread, ratio=False)
    row(f"tarball {args.tarball_mb} MB (MB/s)", lambda r: r["tarball"]["transfer_mb_per_sec"], "{:.1f}")
    row("  runs, min-max (MB/s)",
        lambda r: [x["transfer_mb_per_sec"] for x in r["tarball"]["runs"]], spread, ratio=False)
    row("packument full p99 (ms)", pk("full", "latency_p99_ms"), "{:.1f}")
    row("packument abbrev. p99 (ms)", pk("abbreviated", "latency_p99_ms"), "{:.1f}")
    row("server CPU/req, full (ms)", pk("full", "server_cpu_ms_per_request"), "{:.2f}")
    row("server CPU/req, abbrev. (ms)", pk("abbreviated", "server_cpu_ms_per_request"), "{:.2f}")
    row("packument full size (bytes)", pk("full", "bytes"), "{:d}", ratio=False)
    row("packument abbrev. size (bytes)", pk("abbreviated", "bytes"), "{:d}", ratio=False)
    row("errors (non-2xx + socket)",
        lambda r: errors_of(r["packument"]["full"]) + errors_of(r["packument"]["abbreviated"])
        + errors_of(r["tarball"]), "{:d}", ratio=False)
    header = ("", *servers, "ratio" if len(servers) == 2 else "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    print(f"npm registry benchmark: {PACKAGE} with {args.versions} versions; wrk {args.wrk_threads} threads, "
          f"{args.connections} connections ({args.tarball_connections} for the tarball); median of "
          f"{args.runs} x {args.duration:g} s; {cpus} CPUs; appliance {args.workers} workers x {args.threads} "
          f"threads; reads {'anonymous' if args.anonymous_reads else 'with a Bearer token'}; "
          f"load average before {load[0]:.2f}")
    for r in [header, *rows]:
        print("  ".join([str(r[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(r[1:], widths[1:])]))
    if len(servers) == 2:
        try:
            ratio = min(results["appliance"]["packument"][k]["requests_per_sec"]
                        / results["verdaccio"]["packument"][k]["requests_per_sec"] for k in ("full", "abbreviated"))
            verdict = "met" if ratio >= 2 else "NOT met"
            print(f"target appliance >= 2x verdaccio on packuments: {verdict} (lowest ratio {ratio:.2f}x)")
        except (KeyError, ZeroDivisionError):
            pass
    if "appliance" in results:
        # gunicorn's workers share the listening socket; wrk's keep-alive connections stay with the worker
        # that accepted them, so how evenly they land shows in the workers' CPU time.
        for kind in ("full", "abbreviated"):
            try:
                splits = []
                for run in results["appliance"]["packument"][kind]["runs"]:
                    cpu = sorted(run["server_cpu_by_pid"].values(), reverse=True)
                    total = sum(cpu) or 1
                    splits.append("/".join(f"{100 * c / total:.0f}" for c in cpu[:args.workers]))
                print(f"appliance packument {kind}: CPU % of the busiest workers, per run: {', '.join(splits)}")
            except KeyError:
                pass
    print()


def short_path(text: str) -> str:
    text = re.sub(r"\S*/site-packages/", "", text)
    return text.replace(str(REPO_ROOT) + "/", "")


def profile(home: Path, args, token: str, requests: int) -> dict:
    """Packument requests in this process (Flask's test client: no HTTP, no gunicorn), timed and then
    profiled: warm (the worker's packument cache hit) and rebuilt (that cache emptied first)."""
    import cProfile
    import pstats

    os.environ["APPLIANCE_HOME"] = str(home)
    sys.path.insert(0, str(REPO_ROOT))
    from appliance import create_app
    from appliance.formats.npm import blueprint as npm_blueprint

    def empty_cache():
        with contextlib.suppress(AttributeError):
            npm_blueprint.packuments._entries.clear()

    app = create_app(home=home)
    client = app.test_client()
    path = package_path("/_registry/npm/", PACKAGE)
    report = {}
    for kind, accept in (("full", FULL), ("abbreviated", ABBREVIATED)):
        headers = {"Accept": accept, "Host": "127.0.0.1"}
        if not args.anonymous_reads:
            headers["Authorization"] = f"Bearer {token}"
        answer = client.get(path, headers=headers)
        if answer.status_code != 200:
            raise BenchError(f"profile: GET {path} answered {answer.status_code}: {answer.data[:300]!r}")
        for label, count, clear in (("warm", requests, False), ("rebuilt", max(10, requests // 20), True)):
            started = time.perf_counter()
            for _ in range(count):
                if clear:
                    empty_cache()
                client.get(path, headers=headers)
            plain_ms = (time.perf_counter() - started) / count * 1000
            profiler = cProfile.Profile()
            for _ in range(count):
                if clear:
                    empty_cache()
                profiler.enable()
                client.get(path, headers=headers)
                profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(r"appliance/|flask/app|peewee.py:.*(execute|__sql__)|"
                                                       r"json/|sqlite3", 25)
            stats.sort_stats("tottime").print_stats(12)
            text = "\n".join(line for line in short_path(out.getvalue()).splitlines()
                             if line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced")))
            print(f"\n==== profile: packument {kind}, {label}: {plain_ms:.2f} ms per request in-process "
                  f"({count} requests, no profiler) ====")
            print(text)
            report[f"{kind}_{label}_ms_per_request"] = plain_ms
    return report


def main(argv: list[str] | None = None) -> int:
    class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    parser = argparse.ArgumentParser(prog="scripts/bench_npm.py", description=__doc__, formatter_class=Formatter)
    parser.add_argument("--only", choices=["appliance", "verdaccio"], help="benchmark one server alone")
    parser.add_argument("--versions", type=int, default=100, help="versions of the packument's package")
    parser.add_argument("--tarball-mb", type=int, default=20, help="MB of random data in the large tarball")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per figure; the median one is reported")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of the same load before each figure")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections for packuments")
    parser.add_argument("--tarball-connections", type=int, default=16, help="wrk connections for the tarball")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="appliance serve --workers")
    parser.add_argument("--threads", type=int, default=4, help="appliance serve --threads")
    parser.add_argument("--anonymous-reads", action="store_true", help="send no token with reads")
    parser.add_argument("--accept-encoding", default="", help="Accept-Encoding of reads; empty sends none")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON to FILE")
    parser.add_argument("--verdaccio-dir", type=Path, default=DEFAULT_VERDACCIO_DIR,
                        help="where Verdaccio is installed, once")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install wrk when missing")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data, configs, logs)")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="afterwards, profile N appliance packument requests in-process (cProfile)")
    args = parser.parse_args(argv)

    wrk = ensure_wrk(install=not args.no_install)
    load_at_start = load_average()
    if load_at_start[0] > 0.5:
        log(f"warning: load average {load_at_start[0]:.2f} before the run: other processes share the CPUs "
            f"and the figures with them")
    entry = ensure_verdaccio(args.verdaccio_dir) if args.only != "appliance" else None
    cpus = os.cpu_count() or 1

    log(f"building {args.versions} tarballs of {PACKAGE} and one of {args.tarball_mb} MB")
    versions = realistic_versions(PACKAGE, args.versions)
    big = big_tarball(BIG_PACKAGE, args.tarball_mb)

    workdir = Path(tempfile.mkdtemp(prefix="bench-npm-"))
    servers: list[Server] = []
    if args.only != "verdaccio":
        servers.append(Appliance(workdir / "appliance", args.workers, args.threads))
    if args.only != "appliance":
        max_body = int(len(big.data) * 4 / 3 / 1e6) + 16
        servers.append(Verdaccio(workdir / "verdaccio", entry, max_body))

    results: dict = {}
    status = 0
    try:
        for server in servers:
            # One server at a time, so that each has the machine to itself.
            log(f"{server.label}: starting")
            try:
                server.start()
                log(f"{server.label}: up at {server.registry}")
                results[server.label] = measure(server, args, wrk, versions, big)
                results[server.label]["load_average_after"] = load_average()
            except BenchError as error:
                status = 1
                log(f"{server.label}: FAILED: {error}")
                results[server.label] = {"error": str(error)}
            finally:
                server.stop()
        print_table(args, {k: v for k, v in results.items() if "error" not in v}, cpus, load_at_start)
        for name, result in results.items():
            if "error" in result:
                print(f"{name}: FAILED: {result['error']}\n")
        if args.profile and any(isinstance(s, Appliance) and "error" not in results.get(s.label, {"error": 1})
                                for s in servers):
            appliance = next(s for s in servers if isinstance(s, Appliance))
            results["appliance"]["profile"] = profile(appliance.home, args, appliance.token, args.profile)
        if args.json:
            document = {
                "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "cpus": cpus,
                "load_average_before": load_at_start,
                "package": PACKAGE,
                "tarball_bytes": len(big.data),
                "results": results,
            }
            Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
            log(f"wrote {args.json}")
    finally:
        for server in servers:
            server.stop()
        if args.keep or status:
            log(f"kept {workdir} (data, configs, server logs)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        log(f"error: {error}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)

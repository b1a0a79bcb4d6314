#!/usr/bin/env python3
"""Docker registry benchmark: push and pull of one large layer (1 GiB by default) through the appliance
(gunicorn, subdomain layout, a personal access token) and through Debian's docker-registry (CNCF
distribution 2.8, filesystem storage in a temp dir, no auth), in the same run, side by side.

Both are driven by the same small HTTP client, as skopeo and docker push a layer: `POST
/v2/NAME/blobs/uploads/`, one `PATCH` with the whole layer, `PUT ?digest=`; and pull it with `GET
/v2/NAME/blobs/DIGEST` through curl into /dev/null. The layer is random bytes written to a temp
file on disk first (not timed); each run pushes a fresh layer, so neither server can skip the upload.

It prints, per server and direction, the median MB/s (10^6 bytes per second) of --runs (3) runs and
their spread, the appliance / docker-registry ratio, and the peak resident memory of the appliance's
gunicorn workers meanwhile (sampled every 50 ms from /proc), against their resident memory before.
Targets: each ratio at least 1.0, no worker growing by more than 100 MB.

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_docker.py                    # ~1 min on 2 cores
    python3 scripts/bench_docker.py --size-mb 256 --runs 5 --json bench-docker.json

With `--client docker`, the same comparison through the real Docker CLI and daemon (Debian's docker.io,
a dockerd of its own on vfs, as tests/clients/test_docker_cli.py runs it): an image of --size-mb split
into four layers is loaded into the daemon, then `docker push` to each registry (after `docker login`
through the appliance's token flow) and `docker pull` of it into an emptied daemon are timed. The daemon
compresses each layer as it pushes and unpacks each as it pulls, on both sides alike; MB/s is of the
image's uncompressed size.

    python3 scripts/bench_docker.py --client docker --runs 2

What it needs: docker-registry (Debian; scripts/install-test-deps.sh installs it) and curl; docker.io and
unshare (root) for --client docker. Everything it writes is under one temp dir, removed at the end.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.support.docker_cli import Dockerd
from tests.support.live import LiveAppliance, free_port

HOSTNAME = "bench.test"
IMAGE = "bench/images/layer"
BUFFER = 1024 * 1024


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_layer(path: Path, size: int) -> str:
    """`size` random bytes at `path`; returns their digest."""
    hasher = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(8 * BUFFER, left))
            out.write(chunk)
            hasher.update(chunk)
            left -= len(chunk)
    return f"sha256:{hasher.hexdigest()}"


class Registry:
    """A registry at 127.0.0.1:PORT, reached with `host` as the Host header and optional headers."""

    def __init__(self, name: str, port: int, host: str, headers: dict[str, str]):
        self.name = name
        self.port = port
        self.host = host
        self.headers = headers

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600, blocksize=BUFFER)
        connection.request(method, path, body=body, headers={"Host": self.host, **self.headers, **(headers or {})})
        return connection.getresponse()

    def push(self, layer: Path, digest: str) -> float:
        """Seconds to push the layer as skopeo does: POST, one PATCH with all of it, PUT ?digest=."""
        started = time.perf_counter()
        answer = self.request("POST", f"/v2/{IMAGE}/blobs/uploads/", headers={"Content-Length": "0"})
        answer.read()
        if answer.status != 202:
            raise RuntimeError(f"{self.name}: POST answered {answer.status}")
        location = self._path(answer.getheader("Location"))
        size = layer.stat().st_size
        with open(layer, "rb") as body:
            answer = self.request("PATCH", location, body=body, headers={
                "Content-Type": "application/octet-stream", "Content-Length": str(size)})
        answer.read()
        if answer.status != 202:
            raise RuntimeError(f"{self.name}: PATCH answered {answer.status}")
        location = self._path(answer.getheader("Location"))
        separator = "&" if "?" in location else "?"
        answer = self.request("PUT", f"{location}{separator}digest={digest}", headers={"Content-Length": "0"})
        answer.read()
        if answer.status != 201:
            raise RuntimeError(f"{self.name}: PUT answered {answer.status}")
        return time.perf_counter() - started

    def pull(self, digest: str, size: int) -> float:
        """Seconds to pull the layer with curl (into /dev/null): a Python reader would be slower than
        either server's sendfile()."""
        headers = [f"Host: {self.host}", *(f"{k}: {v}" for k, v in self.headers.items())]
        command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}"]
        for header in headers:
            command += ["-H", header]
        started = time.perf_counter()
        completed = subprocess.run([*command, f"http://127.0.0.1:{self.port}/v2/{IMAGE}/blobs/{digest}"],
                                   capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if completed.stdout != f"200 {size}":
            raise RuntimeError(f"{self.name}: GET answered {completed.stdout} {completed.stderr}")
        return elapsed

    @staticmethod
    def _path(location: str) -> str:
        parts = urlsplit(location)
        return parts.path + (f"?{parts.query}" if parts.query else "")


class WorkerMemory:
    """Resident memory of the gunicorn workers (children of the master), sampled in a thread."""

    def __init__(self, master_pid: int):
        self.master_pid = master_pid
        self.peak: dict[int, int] = {}
        self.baseline = self.sample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def sample(self) -> dict[int, int]:
        rss = {}
        for pid in self.workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
            rss[pid] = int(line.split()[1]) * 1024
        return rss

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for pid, rss in self.sample().items():
                self.peak[pid] = max(self.peak.get(pid, 0), rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def growth_mb(self) -> dict[int, float]:
        return {pid: (peak - self.baseline.get(pid, peak)) / 1e6 for pid, peak in self.peak.items()}


def start_appliance(home: Path) -> tuple[LiveAppliance, Registry, str]:
    appliance = LiveAppliance(home)
    appliance.set("hostname", HOSTNAME)
    appliance.set("subdomain_isolation", True)
    appliance.set("max_upload_bytes", 64 * 1024**3)
    appliance.user("bench")
    appliance.repo("bench/images")
    token = appliance.token("bench", "read:packages,write:packages")
    appliance.start()
    basic = base64.b64encode(f"bench:{token}".encode()).decode()
    return appliance, Registry("appliance", appliance.port, f"docker.{HOSTNAME}:{appliance.port}",
                               {"Authorization": f"Basic {basic}"}), token


def start_distribution(workdir: Path) -> tuple[subprocess.Popen, Registry]:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed: scripts/install-test-deps.sh installs it")
    port = free_port()
    root = workdir / "distribution-storage"
    root.mkdir()
    config = workdir / "distribution.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"}}))
    log_file = open(workdir / "distribution.log", "wb")  # noqa: SIM115 - the server writes to it until the end
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log_file, stderr=subprocess.STDOUT)
    registry = Registry("docker-registry", port, f"127.0.0.1:{port}", {})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            answer = registry.request("GET", "/v2/")
            answer.read()
            if answer.status == 200:
                return process, registry
        except ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"docker-registry did not start: {(workdir / 'distribution.log').read_text()[-2000:]}")


def write_image_archive(workdir: Path, name: str, size: int, layers: int = 4) -> Path:
    """A `docker save` archive of an image of `layers` layers, each one file of random bytes, `size`
    bytes in all, tagged `name`; written to disk piece by piece, never whole in memory."""
    members, diff_ids = [], []
    for index in range(layers):
        data = workdir / f"data{index}"
        write_layer(data, size // layers)
        layer = workdir / f"layer{index}.tar"
        with tarfile.open(layer, "w") as tar:
            tar.add(data, arcname=f"data{index}")
        data.unlink()
        diff_ids.append(write_digest(layer))
        members.append((f"layer{index}/layer.tar", layer))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/data0"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": [m for m, _ in members]}]).encode()
    archive = workdir / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for member, path in members:
            tar.add(path, arcname=member)
            path.unlink()
        for member, data in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def write_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(8 * BUFFER):
            hasher.update(chunk)
    return f"sha256:{hasher.hexdigest()}"


def bench_docker_cli(args, workdir: Path, appliance: LiveAppliance, token: str, distribution: Registry,
                     memory: WorkerMemory) -> dict[tuple[str, str], list[float]]:
    """Seconds of `docker push` and `docker pull` of one image, per registry and direction."""
    hosts = workdir / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {HOSTNAME} docker.{HOSTNAME}\n")
    dockerd = Dockerd(workdir / "dockerd", hosts).start()
    config = workdir / "docker-config"
    targets = {"appliance": f"docker.{HOSTNAME}:{appliance.port}/{IMAGE}:bench",
               "docker-registry": f"127.0.0.1:{distribution.port}/{IMAGE}:bench"}
    times = {(name, d): [] for name in targets for d in ("push", "pull")}

    def docker(*arguments: str, stdin: str | None = None) -> float:
        started = time.perf_counter()
        result = dockerd.run(*arguments, config=config, input=stdin, timeout=3600)
        if result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(arguments)}: {result.output}")
        return time.perf_counter() - started

    try:
        docker("login", f"docker.{HOSTNAME}:{appliance.port}", "-u", "bench", "--password-stdin", stdin=token)
        with memory:
            for run in range(args.runs):
                log(f"run {run + 1}/{args.runs}: writing and loading a {args.size_mb} MiB image of 4 layers")
                docker("load", "-i", str(write_image_archive(workdir, "bench:source", args.size_mb * 1024 * 1024)))
                (workdir / "image.tar").unlink()
                order = list(targets) if run % 2 == 0 else list(targets)[::-1]
                for name in order:
                    docker("tag", "bench:source", targets[name])
                    times[name, "push"].append(docker("push", targets[name]))
                docker("rmi", "bench:source", *targets.values())
                for name in order:
                    times[name, "pull"].append(docker("pull", targets[name]))
                    docker("rmi", targets[name])
                    log(f"  {name}: push {times[name, 'push'][-1]:.1f} s, pull {times[name, 'pull'][-1]:.1f} s")
    finally:
        dockerd.stop()
    return times


def figures(seconds: list[float], size: int) -> dict:
    rates = [size / s / 1e6 for s in seconds]
    return {"median_s": round(statistics.median(seconds), 2), "median_mb_s": round(statistics.median(rates), 1), "min_mb_s": round(min(rates), 1),
            "max_mb_s": round(max(rates), 1), "runs": len(rates)}


def bench_http(args, workdir: Path, appliance: Registry, distribution: Registry,
               memory: WorkerMemory) -> dict[tuple[str, str], list[float]]:
    """Seconds to push and pull one layer over HTTP, per registry and direction."""
    size = args.size_mb * 1024 * 1024
    times = {(r.name, d): [] for r in (appliance, distribution) for d in ("push", "pull")}
    layer = workdir / "layer"
    with memory:
        for run in range(args.runs):
            log(f"run {run + 1}/{args.runs}: writing a {args.size_mb} MiB layer")
            digest = write_layer(layer, size)
            # Alternating which server goes first evens out what the page cache and the disk do.
            order = (appliance, distribution)
            for registry in order if run % 2 == 0 else order[::-1]:
                times[registry.name, "push"].append(registry.push(layer, digest))
                times[registry.name, "pull"].append(registry.pull(digest, size))
                log(f"  {registry.name}: push {size / times[registry.name, 'push'][-1] / 1e6:.0f} MB/s, "
                    f"pull {size / times[registry.name, 'pull'][-1] / 1e6:.0f} MB/s")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="layer size in MiB (default 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs per server and direction (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--client", choices=("http", "docker"), default="http",
                        help="push and pull one layer over HTTP (default), or an image with the Docker CLI")
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024

    workdir = Path(tempfile.mkdtemp(prefix="bench-docker-"))
    appliance = distribution = None
    try:
        appliance, appliance_registry, token = start_appliance(workdir / "appliance")
        distribution, distribution_registry = start_distribution(workdir)
        memory = WorkerMemory(appliance.process.pid)
        if args.client == "docker":
            times = bench_docker_cli(args, workdir, appliance, token, distribution_registry, memory)
        else:
            times = bench_http(args, workdir, appliance_registry, distribution_registry, memory)
        result = {"client": args.client, "size_mib": args.size_mb, "runs": args.runs,
                  "load_average": os.getloadavg()[0]}
        for (name, direction), seconds in times.items():
            result[f"{name} {direction}"] = figures(seconds, size)
        for direction in ("push", "pull"):
            result[f"ratio {direction}"] = round(result[f"appliance {direction}"]["median_mb_s"]
                                                 / result[f"docker-registry {direction}"]["median_mb_s"], 2)
        growth = memory.growth_mb()
        result["appliance workers"] = {
            "baseline_mb": {pid: round(rss / 1e6, 1) for pid, rss in memory.baseline.items()},
            "peak_mb": {pid: round(rss / 1e6, 1) for pid, rss in memory.peak.items()},
            "max_growth_mb": round(max(growth.values(), default=0.0), 1),
        }
        print(json.dumps(result, indent=2))
        print(f"push: appliance {result['appliance push']['median_mb_s']} MB/s, docker-registry "
              f"{result['docker-registry push']['median_mb_s']} MB/s, ratio {result['ratio push']}")
        print(f"pull: appliance {result['appliance pull']['median_mb_s']} MB/s, docker-registry "
              f"{result['docker-registry pull']['median_mb_s']} MB/s, ratio {result['ratio pull']}")
        print(f"appliance workers: largest growth {result['appliance workers']['max_growth_mb']} MB "
              f"(target: under 100 MB)")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        if distribution is not None:
            distribution.terminate()
            distribution.wait(timeout=20)
        if appliance is not None:
            appliance.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

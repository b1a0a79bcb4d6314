#!/usr/bin/env python3
"""RubyGems registry benchmark: `bundle install` of 30 private gems, and compact index requests per second.

It starts a fresh appliance (gunicorn, in a temp APPLIANCE_HOME, --workers x --threads gthread workers),
builds 30 gems with the real `gem build` (10 leaves and 20 gems that each depend on two leaves) and
pushes them with `gem push` to a private repository, then measures:

  1. `bundle install` of a Gemfile naming the 20 dependent gems (30 gems installed) from the appliance,
     cold: every run has an empty BUNDLE_PATH, no Gemfile.lock and no copy of the compact index
     (a fresh BUNDLE_USER_HOME), so bundler fetches /versions, every /info/NAME and every .gem. With
     hyperfine when it is installed (--prepare empties the directories), else --bundle-runs timed runs;
     the table shows the mean, min and max;
  2. /info/NAME requests per second with `wrk` at --connections (16) keep-alive connections, HTTP Basic
     credentials as bundler sends them, --runs (3) runs of --duration (10) seconds after a warm-up; the
     table shows the median run and the spread; /versions the same way, for comparison.

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_rubygems.py                    # everything, about 2 min on 2 cores
    python3 scripts/bench_rubygems.py --json bench.json  # also write the figures as JSON
    python3 scripts/bench_rubygems.py --workers 4 --threads 4

What it needs: ruby, gem and bundle (Debian: ruby, ruby-bundler); wrk (Debian), installed with
`apt-get install -y wrk` when missing and running as root; hyperfine is used when present. wrk and
bundler run on the same machine as the appliance and take their share of its CPUs.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_npm import BenchError, ensure_wrk, free_port, log, run_wrk, stop, wait_until_up

REPO_ROOT = Path(__file__).resolve().parent.parent
OWNER = "bench"
LEAVES = 10
DEPENDENTS = 20


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--bundle-runs", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    return parser.parse_args(argv)


class Appliance:
    def __init__(self, home: Path, workers: int, threads: int):
        self.home = home
        self.workers, self.threads = workers, threads
        self.log_file = home.parent / "appliance.log"
        self.env = {**os.environ, "APPLIANCE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "appliance", *args], cwd=REPO_ROOT, env=self.env,
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BenchError(f"`appliance {' '.join(args)}` exited with {result.returncode}:\n"
                             f"{result.stdout}{result.stderr}")
        return result.stdout

    def start(self) -> None:
        self.home.mkdir(parents=True)
        self.cli("init")
        self.cli("users", "create", OWNER)
        self.cli("repos", "create", f"{OWNER}/gems", "--visibility", "private")
        self.token = self.cli("tokens", "create", OWNER, "--scopes", "read:packages,write:packages").strip()
        self.cli("config", "set", "hostname", "127.0.0.1")
        self.cli("config", "set", "subdomain_isolation", "false")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.source = f"{self.base}/_registry/rubygems/{OWNER}"
        command = [sys.executable, "-m", "appliance", "serve", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(self.workers), "--threads", str(self.threads)]
        with open(self.log_file, "wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(self.base, "/_health", self.process, self.log_file)


def ruby_env(root: Path) -> dict[str, str]:
    """A home, gem directory and bundler state of the benchmark's own."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home"), "LANG": "C.UTF-8",
            "GEM_HOME": str(root / "gem-home"), "GEM_PATH": str(root / "gem-home"),
            "BUNDLE_USER_HOME": str(root / "bundle-home"), "BUNDLE_PATH": str(root / "bundle"),
            "BUNDLE_APP_CONFIG": str(root / "project" / ".bundle")}


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchError(f"`{' '.join(command)}` exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def gem_names() -> tuple[list[str], list[str]]:
    return [f"leaf-{i:02d}" for i in range(LEAVES)], [f"app-{i:02d}" for i in range(DEPENDENTS)]


def build_and_push(appliance: Appliance, root: Path, env: dict[str, str]) -> None:
    leaves, dependents = gem_names()
    for index, name in enumerate(leaves + dependents):
        project = root / "src" / name
        (project / "lib").mkdir(parents=True)
        (project / "lib" / f"{name}.rb").write_text(f"# {name}\n" + "X = 1\n" * 200)
        dependencies = ""
        if name.startswith("app-"):
            first, second = leaves[index % LEAVES], leaves[(index + 3) % LEAVES]
            dependencies = f'  s.add_dependency "{first}", "~> 1.0"\n  s.add_dependency "{second}", ">= 1.0"\n'
        (project / f"{name}.gemspec").write_text(
            f'Gem::Specification.new do |s|\n  s.name = "{name}"\n  s.version = "1.0.{index}"\n'
            f'  s.summary = "{name} for the benchmark"\n  s.authors = ["Bench"]\n  s.license = "MIT"\n'
            f'  s.files = ["lib/{name}.rb"]\n  s.metadata = {{"github_repo" => "{OWNER}/gems"}}\n'
            f"{dependencies}end\n")
        run(["gem", "build", f"{name}.gemspec"], project, env)
        gem = next(project.glob("*.gem"))
        run(["gem", "push", str(gem), "--host", appliance.source], project, {**env, "GEM_HOST_API_KEY": appliance.token})
    log(f"built and pushed {LEAVES + DEPENDENTS} gems")


def time_bundle_install(appliance: Appliance, root: Path, env: dict[str, str], runs: int) -> dict:
    _, dependents = gem_names()
    project = root / "project"
    project.mkdir()
    (project / "Gemfile").write_text(f'source "{appliance.source}/"\n\n'
                                     + "".join(f'gem "{name}"\n' for name in dependents))
    env = {**env, "BUNDLE_127__0__0__1": f"{OWNER}:{appliance.token}"}
    cold = ["rm", "-rf", str(root / "bundle"), str(root / "bundle-home"), str(project / "Gemfile.lock")]
    install = ["bundle", "install", "--jobs", "4", "--quiet"]
    # One run first, to check it installs all 30.
    subprocess.run(cold, check=True)
    run(install, project, env)
    installed = sorted(p.name for p in (root / "bundle").glob("ruby/*/gems/*"))
    if len(installed) != LEAVES + DEPENDENTS:
        raise BenchError(f"bundle install installed {len(installed)} gems, not {LEAVES + DEPENDENTS}: {installed}")
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        export = root / "hyperfine.json"
        subprocess.run([hyperfine, "--runs", str(runs), "--prepare", " ".join(cold), "--export-json", str(export),
                        "--style", "none", " ".join(install)], cwd=project, env=env, check=True,
                       capture_output=True)
        times = json.loads(export.read_text())["results"][0]["times"]
        tool = "hyperfine"
    else:
        times = []
        for _ in range(runs):
            subprocess.run(cold, check=True)
            started = time.perf_counter()
            run(install, project, env)
            times.append(time.perf_counter() - started)
        tool = "timed runs"
    return {"tool": tool, "runs": len(times), "mean_s": statistics.mean(times), "min_s": min(times),
            "max_s": max(times), "times_s": times, "gems": len(installed)}


def requests_per_second(appliance: Appliance, wrk: str, path: str, args) -> dict:
    credentials = base64.b64encode(f"{OWNER}:{appliance.token}".encode()).decode()
    url = f"{appliance.source}/{path}"
    headers = {"Authorization": f"Basic {credentials}"}
    run_wrk(wrk, url, headers, threads=args.wrk_threads, connections=args.connections, duration=2)
    figures = []
    for _ in range(args.runs):
        result = run_wrk(wrk, url, headers, threads=args.wrk_threads, connections=args.connections,
                         duration=args.duration)
        if result["non_2xx"] or any(result["socket_errors"].values()):
            raise BenchError(f"wrk on {url} saw errors:\n{result['wrk_output']}")
        figures.append(result)
    ordered = sorted(figures, key=lambda f: f["requests_per_sec"])
    median = ordered[len(ordered) // 2]
    return {"path": path, "median_rps": median["requests_per_sec"], "min_rps": ordered[0]["requests_per_sec"],
            "max_rps": ordered[-1]["requests_per_sec"], "latency_p50_ms": median.get("latency_p50_ms"),
            "latency_p99_ms": median.get("latency_p99_ms")}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    for command in ("ruby", "gem", "bundle"):
        if not shutil.which(command):
            raise BenchError(f"{command} is not installed: apt-get install -y ruby ruby-bundler")
    wrk = ensure_wrk(install=True)
    root = Path(tempfile.mkdtemp(prefix="bench-rubygems-"))
    appliance = Appliance(root / "appliance-home", args.workers, args.threads)
    try:
        appliance.start()
        env = ruby_env(root)
        build_and_push(appliance, root, env)
        bundle = time_bundle_install(appliance, root, env, args.bundle_runs)
        log(f"bundle install: mean {bundle['mean_s']:.2f} s")
        info = requests_per_second(appliance, wrk, "info/app-00", args)
        versions = requests_per_second(appliance, wrk, "versions", args)
    finally:
        stop(appliance.process)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nappliance: {args.workers} workers x {args.threads} threads, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} at the end (other work on the machine skews the figures)")
    print(f"bundle install, 30 gems, cold ({bundle['tool']}, {bundle['runs']} runs): mean {bundle['mean_s']:.2f} s, "
          f"min {bundle['min_s']:.2f} s, max {bundle['max_s']:.2f} s")
    for figures in (info, versions):
        print(f"GET /{figures['path']}: {figures['median_rps']:.0f} requests/s (median of {args.runs}; "
              f"{figures['min_rps']:.0f}-{figures['max_rps']:.0f}), p50 {figures['latency_p50_ms']:.1f} ms, "
              f"p99 {figures['latency_p99_ms']:.1f} ms at {args.connections} connections")
    if args.json:
        args.json.write_text(json.dumps({"bundle_install": bundle, "info": info, "versions": versions}, indent=2))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as error:
        log(f"failed: {error}")
        sys.exit(1)

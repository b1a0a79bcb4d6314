#!/usr/bin/env python3
"""`npm install` of a project with 50 dependencies from the appliance and from Verdaccio 5, side by side.

Both servers are started fresh as scripts/bench_npm.py starts them (gunicorn in a temp APPLIANCE_HOME;
Verdaccio 5.33.0 installed once into a cache directory) and get the same bytes published over HTTP: 50
scoped packages `@bench/dep-01` ... `@bench/dep-50`, each with --versions versions (readme, description,
keywords, a small module), all linked to the repository bench/deps on the appliance. A project whose
package.json asks for `^1.0.0` of each is then installed with the real npm client, cold:

    npm install --prefer-online --no-audit --no-fund --cache CACHE

with CACHE, node_modules and package-lock.json emptied before every run (hyperfine's --prepare, one run per
invocation; without hyperfine, timed runs with the same preparation), the token of the publishing user in
.npmrc for each server as a client with an `_authToken` sends it. Both servers stay up and the installs
alternate (appliance, Verdaccio, appliance, ...), so that both see the same load of a shared machine. It prints mean, median and spread of each, the
ratio appliance/verdaccio (the goal: at most 0.9) and the load average, and writes the figures with --json.

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_npm_install.py                 # ~3 min on 2 cores
    python3 scripts/bench_npm_install.py --runs 20 --json install.json
    python3 scripts/bench_npm_install.py --only appliance --keep
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_npm import (  # a sibling script, not a package
    DEFAULT_VERDACCIO_DIR,
    SCOPE,
    Appliance,
    BenchError,
    Server,
    Tarball,
    Verdaccio,
    ensure_verdaccio,
    load_average,
    log,
    make_tgz,
    words,
)

REPOSITORY = f"{SCOPE}/deps"


def dependency_tarballs(count: int, versions: int) -> list[Tarball]:
    """`versions` versions of each of `count` packages, about the size of a small utility library."""
    import random

    rng = random.Random(3)
    tarballs = []
    for number in range(1, count + 1):
        name = f"@{SCOPE}/dep-{number:02d}"
        for minor in range(versions):
            version = f"1.{minor}.0"
            readme = f"# {name}\n\n" + "\n\n".join(words(rng, 60) for _ in range(4)) + "\n"
            manifest = {"name": name, "version": version, "description": words(rng, 20), "main": "index.js",
                        "keywords": sorted(set(words(rng, 5).split())), "license": "MIT",
                        "repository": REPOSITORY}
            code = f"'use strict';\n// {words(rng, 200)}\nmodule.exports = {{ version: '{version}' }};\n"
            data = make_tgz({"package.json": json.dumps(manifest, indent=2).encode(), "README.md": readme.encode(),
                             "index.js": code.encode()})
            tarballs.append(Tarball(name, version, manifest, readme, data))
    return tarballs


class InstallAppliance(Appliance):
    def start(self) -> None:
        super().start()
        self.cli("repos", "create", REPOSITORY)


def project(directory: Path, server: Server, names: list[str]) -> Path:
    directory.mkdir(parents=True)
    (directory / "package.json").write_text(json.dumps({
        "name": "bench-project", "version": "1.0.0", "private": True,
        "dependencies": {name: "^1.0.0" for name in names}}, indent=2))
    authority = server.registry.split("://", 1)[1]
    (directory / ".npmrc").write_text(f"@{SCOPE}:registry={server.registry}\n"
                                      f"//{authority}:_authToken={server.token}\n")
    return directory


def install_commands(directory: Path) -> tuple[str, str]:
    """(the cold install, what empties its cache, node_modules and lock file before it)."""
    cache = directory / "cache"
    install = f"npm install --prefer-online --no-audit --no-fund --loglevel=error --cache {cache}"
    return install, f"rm -rf {cache} {directory / 'node_modules'} {directory / 'package-lock.json'}"


def timed_install(directory: Path) -> float:
    """One cold install, timed by hyperfine (one run, --prepare empties the cache) when it is there."""
    install, prepare = install_commands(directory)
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        export = directory / "hyperfine.json"
        subprocess.run([hyperfine, "--runs", "1", "--prepare", prepare, "--export-json", str(export),
                        "--style", "none", install], cwd=directory, check=True, stdout=subprocess.DEVNULL)
        return json.loads(export.read_text())["results"][0]["times"][0]
    subprocess.run(prepare, shell=True, check=True)
    started = time.perf_counter()
    subprocess.run(install, shell=True, cwd=directory, check=True)
    return time.perf_counter() - started


def figures(times: list[float], directory: Path) -> dict:
    installed = sorted(p.name for p in (directory / "node_modules" / f"@{SCOPE}").iterdir())
    return {"tool": "hyperfine" if shutil.which("hyperfine") else "timed runs", "times": times,
            "mean": statistics.mean(times), "median": statistics.median(times),
            "stdev": statistics.stdev(times) if len(times) > 1 else 0.0, "min": min(times), "max": max(times),
            "installed": len(installed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench_npm_install.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["appliance", "verdaccio"], help="one server alone")
    parser.add_argument("--dependencies", type=int, default=50, help="packages the project depends on")
    parser.add_argument("--versions", type=int, default=5, help="versions of each package")
    parser.add_argument("--runs", type=int, default=10, help="measured installs per server")
    parser.add_argument("--warmup", type=int, default=1, help="installs before measuring")
    parser.add_argument("--workers", type=int, default=2, help="appliance serve --workers")
    parser.add_argument("--threads", type=int, default=4, help="appliance serve --threads")
    parser.add_argument("--verdaccio-dir", type=Path, default=DEFAULT_VERDACCIO_DIR)
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data, logs, projects)")
    args = parser.parse_args(argv)

    load_before = load_average()
    tarballs = dependency_tarballs(args.dependencies, args.versions)
    names = sorted({t.name for t in tarballs})
    workdir = Path(tempfile.mkdtemp(prefix="bench-npm-install-"))
    servers: list[Server] = []
    if args.only != "verdaccio":
        servers.append(InstallAppliance(workdir / "appliance", args.workers, args.threads))
    if args.only != "appliance":
        servers.append(Verdaccio(workdir / "verdaccio", ensure_verdaccio(args.verdaccio_dir), 64))
    results: dict = {}
    try:
        projects = {}
        for server in servers:
            log(f"{server.label}: starting, publishing {len(tarballs)} versions of {len(names)} packages")
            server.start()
            for tarball in tarballs:
                server.publish(tarball)
            projects[server.label] = project(workdir / f"project-{server.label}", server, names)
        # Both servers stay up and take turns, so that both see the same load of a shared machine.
        times: dict[str, list[float]] = {label: [] for label in projects}
        log(f"{args.warmup} warm-up and {args.runs} measured cold installs from each, in turn")
        for run in range(args.warmup + args.runs):
            for label, directory in projects.items():
                elapsed = timed_install(directory)
                if run >= args.warmup:
                    times[label].append(elapsed)
        for label, directory in projects.items():
            results[label] = figures(times[label], directory)
            if results[label]["installed"] != len(names):
                raise BenchError(f"{label}: installed {results[label]['installed']} of {len(names)} packages")
        print(f"npm install of {len(names)} dependencies ({args.versions} versions each), cold cache, "
              f"--prefer-online, {args.runs} runs ({next(iter(results.values()))['tool']})")
        for label, figure in results.items():
            print(f"  {label:10} mean {figure['mean']:.3f} s  median {figure['median']:.3f} s  "
                  f"sd {figure['stdev']:.3f}  min {figure['min']:.3f}  max {figure['max']:.3f}")
        if len(results) == 2:
            ratio = results["appliance"]["mean"] / results["verdaccio"]["mean"]
            # Each appliance run against the Verdaccio run beside it: the load of the moment divides out.
            paired = statistics.median(a / v for a, v in zip(times["appliance"], times["verdaccio"]))
            print(f"  appliance / verdaccio: {ratio:.2f}x of the means, {paired:.2f}x the median of run pairs "
                  f"(goal: at most 0.90x)")
        print(f"  load average before {load_before[0]:.2f}, after {load_average()[0]:.2f}")
        if args.json:
            Path(args.json).write_text(json.dumps({"config": {k: str(v) for k, v in vars(args).items()},
                                                   "load_before": load_before, "results": results}, indent=2))
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        log(f"error: {error}")
        sys.exit(1)

#!/usr/bin/env python3
"""What the largest upload each parser accepts costs a worker: CPU seconds and peak memory per parse.

Issue 16's rule is that no upload keeps a worker busy past a second or grows it past 100 MB. The fuzz
tests (tests/fuzz) try many small mutations; this tries the few shapes that sit just under each parser's
own bounds, where a step per value, per element or per member adds up: an npm body of ~200,000 values or
brackets, a pom of ~25,000 dependencies or ~100,000 properties, a .nuspec of 200,000 elements, a .nupkg
of 20,000 entries, a Gradle .module and an OCI manifest of some MB; and the token scan every pushed file
goes through, over a .tar.gz of 100,000 members and a jar of 20,000 entries. Each is parsed `--repeat` times and
the fastest CPU time (time.process_time, so other processes on a shared machine count less) is printed,
then one more parse under tracemalloc gives the peak.

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_parsers.py
    python3 scripts/bench_parsers.py --repeat 5 --json parsers-bench.json
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.formats.docker import metadata as docker
from appliance.formats.maven import metadata as maven
from appliance.formats.npm import metadata as npm
from appliance.formats.nuget import metadata as nuget
from appliance.formats.rubygems import metadata as rubygems
from tests.support.nuget import nuspec_xml
from tests.support.rubygems import gem_members, gemspec_yaml, tar_of


def npm_body(values: bytes, count: int) -> Callable[[], object]:
    body = b'{"name":"@bench/pkg","versions":{"1.0.0":{"a":[' + b",".join([values] * count) + b"]}}}"
    return lambda: npm.split_publish_body(io.BytesIO(body), lambda name: io.BytesIO())


def pom(inner: bytes) -> Callable[[], object]:
    data = (b'<?xml version="1.0"?><project><groupId>g</groupId><artifactId>a</artifactId>'
            b"<version>${revision}</version>" + inner + b"</project>")
    return lambda: maven.parse_pom(data)


def nuspec_of(children: bytes) -> Callable[[], object]:
    data = nuspec_xml("Bench.Pkg", "1.0.0").replace(b"</metadata>", children + b"</metadata>")
    return lambda: nuget.parse_nuspec(data).fields()


def nupkg_of(entries: int) -> Callable[[], object]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Bench.Pkg.nuspec", nuspec_xml("Bench.Pkg", "1.0.0"))
        for n in range(entries - 1):
            archive.writestr(f"lib/f{n}.txt", b"")
    data = buffer.getvalue()
    return lambda: nuget.read_nupkg(io.BytesIO(data)).fields()


def module_of(variants: int) -> Callable[[], object]:
    data = json.dumps({
        "formatVersion": "1.1", "component": {"group": "g", "module": "m", "version": "1"},
        "variants": [{"name": f"v{n}", "dependencies": [{"group": "a", "module": "b", "version": {"requires": "1"}}]}
                     for n in range(variants)],
    }).encode()
    return lambda: maven.parse_module(data)


def manifest_of(layers: int) -> Callable[[], object]:
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "a" * 64, "size": 1}
    data = json.dumps({"schemaVersion": 2, "mediaType": docker.OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "b" * 64, "size": 1},
                       "layers": [layer] * layers}).encode()
    return lambda: docker.manifest_summary(docker.parse_manifest(data, docker.OCI_MANIFEST))


def gem_of(files: int) -> Callable[[], object]:
    members = gem_members(gemspec_yaml("bench", "1.0"), "bench", with_checksums=False)
    members["data.tar.gz"] = targz_of(files)
    data = tar_of(members)
    return lambda: rubygems.parse_gem(io.BytesIO(data))


def token_scan_of(data: bytes) -> Callable[[], object]:
    from appliance.packages import token_scan

    def scan():
        # the scan's own walk, without looking a found token up in a database
        return token_scan._scan(token_scan._Stream(io.BytesIO(data)), "upload", 0, token_scan._Budget())
    return scan


def targz_of(members: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for n in range(members):
            info = tarfile.TarInfo(f"package/f{n}.js")
            info.size = 1
            archive.addfile(info, io.BytesIO(b"1"))
    return buffer.getvalue()


def jar_of(entries: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(entries):
            archive.writestr(f"com/example/C{n}.class", b"class %d" % n)
    return buffer.getvalue()


DEPENDENCY = b"<dependency><groupId>a</groupId><artifactId>b</artifactId><version>${revision}</version></dependency>"
CASES: dict[str, Callable[[], Callable[[], object]]] = {
    "npm body, 100k numbers": lambda: npm_body(b"1", 99_000),
    "npm body, 50k empty arrays": lambda: npm_body(b"[]", 49_000),
    "npm body, 100k strings": lambda: npm_body(b'"[x]"', 99_000),
    "npm body, over the cap (refused)": lambda: npm_body(b"1", 4_000_000),
    "pom, 24k dependencies": lambda: pom(b"<dependencies>" + DEPENDENCY * 24_000 + b"</dependencies>"),
    "pom, 99k properties": lambda: pom(b"<properties>" + b"".join(
        b"<p%d>${p%d}</p%d>" % (n, n + 1, n) for n in range(99_000)) + b"</properties>"),
    "pom, one dependency of 199k children": lambda: pom(
        b"<dependencies><dependency>" + b"<x/>" * 199_000 + b"</dependency></dependencies>"),
    "pom, 8 MiB of dependencies (refused)": lambda: pom(b"<dependencies>" + DEPENDENCY * 80_000 + b"</dependencies>"),
    "nuspec, 200k elements in metadata": lambda: nuspec_of(b"<x/>" * 200_000),
    "nuspec, 20k dependencies": lambda: nuspec_of(b"<dependencies><group targetFramework='net8.0'>" + b"".join(
        b"<dependency id='A%d' version='[1.0, 2.0)'/>" % n for n in range(20_000)) + b"</group></dependencies>"),
    "nupkg, 20k entries": lambda: nupkg_of(20_000),
    "Gradle module, 60k variants": lambda: module_of(60_000),
    "OCI manifest, 30k layers": lambda: manifest_of(30_000),
    "gem, data.tar.gz of 20k files": lambda: gem_of(20_000),
    "gem, data.tar.gz of 100k files (refused)": lambda: gem_of(100_000),
    "token scan, .tar.gz of 100k members": lambda: token_scan_of(targz_of(100_000)),
    "token scan, jar of 20k entries": lambda: token_scan_of(jar_of(20_000)),
}


def measure(parse: Callable[[], object], repeat: int) -> dict:
    def once() -> str:
        try:
            parse()
            return "accepted"
        except (npm.InvalidPackage, maven.MavenError, nuget.InvalidPackage, docker.DistributionError,
                rubygems.InvalidGem) as e:
            return f"refused: {str(e)[:60]}"

    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        outcome = once()
        best = min(best, time.process_time() - started)
    tracemalloc.start()
    once()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"cpu_seconds": round(best, 3), "peak_mb": round(peak / 1e6, 1), "outcome": outcome}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    results = {}
    for name, build in CASES.items():
        results[name] = measure(build(), args.repeat)
        figures = results[name]
        print(f"{name:42} {figures['cpu_seconds']:7.3f} s CPU {figures['peak_mb']:7.1f} MB peak  {figures['outcome']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

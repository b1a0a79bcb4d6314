#!/usr/bin/env python3
"""Time and bytes of a first and a second `appliance backup create` of about 1 GiB of packages.

It makes a fresh appliance home (`appliance init`), publishes --packages npm packages of --size MiB of
random bytes each through the service (the one write path every registry uses; 64 x 16 MiB = 1 GiB by
default), then runs the real CLI: `appliance backup create DIR` (the first copies every blob), publishes
one more package, and runs it again (the second copies only that package's blob), then `backup verify`.
It prints the wall time of each command, the bytes each copied, and the size of the backup directory.

Usage (from the repository root, with the appliance installed: `pip install -e .`):

    python3 scripts/bench_backup.py                   # 64 x 16 MiB
    python3 scripts/bench_backup.py --packages 8      # a quicker 128 MiB
    python3 scripts/bench_backup.py --keep            # leave the temp dir (printed) behind
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def cli(home: Path, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "appliance", *args], env=dict(os.environ, APPLIANCE_HOME=str(home)),
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"appliance {' '.join(args)} failed: {done.stderr}")
    return seconds, done.stdout.strip()


def publish(home: Path, first: int, count: int, size: int) -> None:
    from appliance import create_app
    from appliance import packages as service
    from appliance.accounts.service import find_account
    from appliance.auth.permissions import Actor
    from appliance.packages import FileUpload, VersionDraft

    app = create_app(home=home)
    with app.app_context(), app.test_request_context():
        admin = Actor(user=find_account("admin"))
        for n in range(first, first + count):
            name = f"bench-{n}"
            chunks = (os.urandom(1024 * 1024) for _ in range(size))
            service.publish_version(
                admin, owner_login="admin", fmt="npm", name=name,
                draft=VersionDraft("1.0.0", {"name": name, "version": "1.0.0"}),
                uploads=[FileUpload(f"{name}-1.0.0.tgz", chunks)],
                repository_name="bench", default_repository_name="bench")


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def copied(summary: str) -> str:
    match = re.search(r"copied (\d+) new blobs \((\d+) bytes\)", summary)
    return f"{int(match.group(1))} blobs, {int(match.group(2)) / 2**20:.1f} MiB" if match else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=64)
    parser.add_argument("--size", type=int, default=16, help="MiB per package")
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    home, backups = root / "home", root / "backups"
    try:
        cli(home, "init")
        cli(home, "repos", "create", "admin/bench")
        print(f"publishing {options.packages} packages of {options.size} MiB into {home} ...", flush=True)
        publish(home, 0, options.packages, options.size)
        stored = du(home / "storage")

        first, first_summary = cli(home, "backup", "create", str(backups))
        after_first = du(backups)
        publish(home, options.packages, 1, options.size)
        second, second_summary = cli(home, "backup", "create", str(backups))
        verify, _ = cli(home, "backup", "verify", str(backups))

        print(f"\nblob store: {stored / 2**30:.2f} GiB in {options.packages} packages\n")
        print(f"{'':22}{'seconds':>10}  {'copied':<24}{'backup dir after':>18}")
        print(f"{'first backup':22}{first:>10.1f}  {copied(first_summary):<24}{after_first / 2**20:>14.0f} MiB")
        print(f"{'second (+1 package)':22}{second:>10.1f}  {copied(second_summary):<24}"
              f"{du(backups) / 2**20:>14.0f} MiB")
        print(f"{'verify (newest)':22}{verify:>10.1f}")
    finally:
        if options.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

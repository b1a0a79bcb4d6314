"""Backups: the database and the blobs it refers to, taken together while the appliance serves.

A backup directory holds any number of snapshots and one blob store they share:

    DIR/blobs/sha256/ab/abcd...             each blob once, named by its sha256 (copied only when missing)
    DIR/snapshots/20261202T190000Z/
        database.sqlite3 | database.sql     SQLite's online backup, or pg_dump's SQL for PostgreSQL
        appliance.toml                      the bootstrap file (secret key, sections), for the restore
        manifest.json                       written last: checksums of the database and every blob

The database is copied first (a consistent point in time: SQLite's backup API reads one snapshot while
writers carry on; pg_dump reads in one transaction); the blobs its rows name are then copied. Blobs are
written before the rows that name them commit, so each row of the copy has its blob; and the backup holds
the storage_cleanup job's lease throughout, so no blob it names is removed before it is copied.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from appliance.settings import BOOTSTRAP_FILE, Bootstrap
from appliance.storage.blobs import CHUNK_SIZE, BlobStore, blob_path

MANIFEST = "manifest.json"
SNAPSHOTS = "snapshots"
FORMAT_VERSION = 1
# The backup holds this job's lease so that cleanup removes no blob between the copy of the database
# and the copy of the blobs.
CLEANUP_LEASE = "storage_cleanup"
LEASE_TTL = dt.timedelta(hours=6)
LEASE_WAIT_SECONDS = 600


class BackupError(Exception):
    """A backup that cannot be made, verified or restored; the message says why."""


@dataclass(frozen=True)
class BackupReport:
    snapshot: Path
    database_bytes: int
    blobs: int
    blob_bytes: int
    copied_blobs: int
    copied_bytes: int
    seconds: float

    def summary(self) -> str:
        return (f"snapshot {self.snapshot}: database {self.database_bytes} bytes, {self.blobs} blobs "
                f"({self.blob_bytes} bytes), copied {self.copied_blobs} new blobs ({self.copied_bytes} bytes) "
                f"in {self.seconds:.1f} s")


def _sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            hasher.update(chunk)
    return hasher.hexdigest()


def _blob_file(root: Path, sha256: str) -> Path:
    return root / blob_path(sha256)


# ---- create ----------------------------------------------------------------------------------------


def _hold_cleanup_lease(holder: str) -> None:
    from appliance.jobs.leases import acquire

    deadline = time.monotonic() + LEASE_WAIT_SECONDS
    while not acquire(CLEANUP_LEASE, holder, LEASE_TTL):
        if time.monotonic() > deadline:
            raise BackupError("the storage_cleanup job has been running for 10 minutes; try again later")
        time.sleep(1)


def _copy_sqlite(url: str, target: Path) -> list[tuple[str, int]]:
    """SQLite's online backup of the database at `url` into `target`; the blobs its rows name."""
    source = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=60)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
            return copy.execute("SELECT sha256, size FROM blob").fetchall()
        finally:
            copy.close()
    finally:
        source.close()


def _copy_postgresql(url: str, target: Path) -> list[tuple[str, int]]:
    """pg_dump of the database at `url` into `target`; the blobs of the database once it is dumped (a
    superset of the dump's, as blobs come before their rows and cleanup waits for the backup)."""
    from appliance.db import database

    result = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "--file", str(target), url],
                            check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    return list(database.execute_sql("SELECT sha256, size FROM blob").fetchall())


def _copy_blob(blobs: BlobStore, root: Path, sha256: str, size: int) -> int:
    """Copy one blob into the backup unless it is there already; returns the bytes copied."""
    target = _blob_file(root, sha256)
    if target.exists() and target.stat().st_size == size:
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out, blobs.open(sha256) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                hasher.update(chunk)
                out.write(chunk)
        if hasher.hexdigest() != sha256:
            raise BackupError(f"blob {sha256} in the appliance's storage is corrupt: its bytes hash to "
                              f"{hasher.hexdigest()}")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return size


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(temporary, path)


def create_backup(bootstrap: Bootstrap, directory: Path, *, blob_store: BlobStore) -> BackupReport:
    """Take a snapshot of the appliance of `bootstrap` into `directory` (made when missing), copying
    only the blobs earlier snapshots there do not have. Runs while the appliance serves."""
    from appliance.jobs.leases import holder_name, release

    started = time.monotonic()
    directory = directory.resolve()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    snapshot = directory / SNAPSHOTS / stamp
    snapshot.mkdir(parents=True)
    holder = f"backup:{holder_name()}"
    _hold_cleanup_lease(holder)
    try:
        postgresql = not bootstrap.database_url.startswith("sqlite")
        database_file = snapshot / ("database.sql" if postgresql else "database.sqlite3")
        copy = _copy_postgresql if postgresql else _copy_sqlite
        rows = copy(bootstrap.database_url, database_file)
        copied_blobs = copied_bytes = 0
        for sha256, size in rows:
            copied = _copy_blob(blob_store, directory, sha256, size)
            copied_blobs += 1 if copied else 0
            copied_bytes += copied
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        raise
    finally:
        release(CLEANUP_LEASE, holder)
    shutil.copyfile(bootstrap.home / BOOTSTRAP_FILE, snapshot / BOOTSTRAP_FILE)
    os.chmod(snapshot / BOOTSTRAP_FILE, 0o600)
    database_bytes = database_file.stat().st_size
    _write_json(snapshot / MANIFEST, {
        "format": FORMAT_VERSION,
        "created_at": stamp,
        "database": {"engine": "postgresql" if postgresql else "sqlite", "file": database_file.name,
                     "size": database_bytes, "sha256": _sha256_file(database_file)},
        "blobs": sorted([sha256, size] for sha256, size in rows),
    })
    return BackupReport(snapshot=snapshot, database_bytes=database_bytes, blobs=len(rows),
                        blob_bytes=sum(size for _, size in rows), copied_blobs=copied_blobs,
                        copied_bytes=copied_bytes, seconds=time.monotonic() - started)


# ---- reading a backup ------------------------------------------------------------------------------


def snapshots(directory: Path) -> list[Path]:
    """The complete snapshots in a backup directory (those with a manifest), oldest first."""
    return sorted(p for p in (directory / SNAPSHOTS).glob("*") if (p / MANIFEST).is_file())


def find_snapshot(path: Path) -> tuple[Path, Path]:
    """(backup directory, snapshot) for a backup directory (its newest snapshot) or one snapshot in it."""
    path = path.resolve()
    if (path / MANIFEST).is_file():
        return path.parent.parent, path
    found = snapshots(path)
    if not found:
        raise BackupError(f"{path} holds no backup (no {SNAPSHOTS}/*/{MANIFEST})")
    return path, found[-1]


def _manifest(snapshot: Path) -> dict:
    try:
        manifest = json.loads((snapshot / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise BackupError(f"cannot read {snapshot / MANIFEST}: {e}") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{snapshot / MANIFEST} is of a format this appliance does not know")
    return manifest


def verify_backup(path: Path) -> list[str]:
    """Everything wrong with the snapshot at `path` (a backup directory: its newest): a database or blob
    missing, of the wrong size, or whose bytes no longer hash to the manifest's sha256. Empty when sound."""
    root, snapshot = find_snapshot(path)
    manifest = _manifest(snapshot)
    problems = []
    database = manifest["database"]
    database_file = snapshot / database["file"]
    if not database_file.is_file():
        problems.append(f"the database {database_file} is missing")
    elif _sha256_file(database_file) != database["sha256"]:
        problems.append(f"the database {database_file} is corrupt (its sha256 differs from the manifest's)")
    for sha256, size in manifest["blobs"]:
        blob = _blob_file(root, sha256)
        if not blob.is_file():
            problems.append(f"blob {sha256} is missing ({blob})")
        elif blob.stat().st_size != size:
            problems.append(f"blob {sha256} is corrupt: {blob.stat().st_size} bytes, the manifest says {size}")
        elif _sha256_file(blob) != sha256:
            problems.append(f"blob {sha256} is corrupt: its bytes no longer hash to its sha256 ({blob})")
    return problems


def prune_snapshots(directory: Path, *, keep: int) -> int:
    """Remove all but the newest `keep` snapshots and the blobs none of the kept ones names; returns how
    many snapshots were removed."""
    found = snapshots(directory)
    old = found[:-keep] if keep else found
    if not old:
        return 0
    for snapshot in old:
        shutil.rmtree(snapshot)
    kept = {sha256 for snapshot in found[-keep:] for sha256, _ in _manifest(snapshot)["blobs"]}
    for blob in _stored_blobs(directory):
        if blob.name not in kept:
            blob.unlink()
    return len(old)


def _stored_blobs(directory: Path) -> Iterator[Path]:
    yield from (p for p in (directory / "blobs" / "sha256").glob("*/*") if not p.name.startswith("."))


# ---- restore ---------------------------------------------------------------------------------------


def restore_backup(path: Path, home: Path) -> BackupReport:
    """Restore the snapshot at `path` (a backup directory: its newest) into `home`, which must be empty
    (or, for a PostgreSQL backup, hold only an appliance.toml naming an empty PostgreSQL database).
    The backup is verified first; the schema is brought up to date after."""
    from appliance.db import database, open_database
    from appliance.migrate import migrate
    from appliance.storage import open_storage

    started = time.monotonic()
    root, snapshot = find_snapshot(path)
    manifest = _manifest(snapshot)
    postgresql = manifest["database"]["engine"] == "postgresql"
    home = home.resolve()
    present = sorted(p.name for p in home.iterdir()) if home.exists() else []
    if present and not (postgresql and present == [BOOTSTRAP_FILE]):
        raise BackupError(f"{home} is not empty ({', '.join(present[:5])}): restore into an empty "
                          "APPLIANCE_HOME")
    problems = verify_backup(snapshot)
    if problems:
        raise BackupError("the backup is damaged: " + "; ".join(problems))

    original = Bootstrap.load(snapshot)  # the bootstrap file kept in the snapshot
    if postgresql:
        if not present:
            raise BackupError(f"this backup is of a PostgreSQL database: write {home / BOOTSTRAP_FILE} with the "
                              "[database] url of an empty PostgreSQL database, then restore into it")
        bootstrap = Bootstrap.load(home)
        if bootstrap.database_url.startswith("sqlite"):
            raise BackupError(f"this backup is of a PostgreSQL database, {home / BOOTSTRAP_FILE} names SQLite")
        db = open_database(bootstrap.database_url)
        if db.get_tables():
            raise BackupError("the PostgreSQL database in appliance.toml is not empty")
        result = subprocess.run(["psql", "--quiet", "--no-psqlrc", "--set", "ON_ERROR_STOP=1", "--file",
                                 str(snapshot / manifest["database"]["file"]), bootstrap.database_url],
                                check=False, capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"psql could not load the dump: {result.stderr.strip()}")
    else:
        bootstrap = dataclasses.replace(Bootstrap.embedded_default(home), secret_key=original.secret_key,
                                        trusted_proxies=original.trusted_proxies, ldap=original.ldap,
                                        metrics=original.metrics, backup=original.backup)
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(snapshot / manifest["database"]["file"], home / "appliance.db")

    if bootstrap.storage_backend == "local":
        bootstrap.storage_path.mkdir(parents=True, exist_ok=True)
    storage = open_storage(bootstrap.storage_backend, bootstrap.storage_path, bootstrap.storage_options)
    blob_bytes = 0
    for sha256, size in manifest["blobs"]:
        writer = storage.writer(blob_path(sha256))
        try:
            with open(_blob_file(root, sha256), "rb") as f:
                while chunk := f.read(CHUNK_SIZE):
                    writer.write(chunk)
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        blob_bytes += size
    migrate(open_database(bootstrap.database_url))
    database.close()
    if not postgresql:
        # Written last: the file marks the home initialised, so a restore that failed above can run again.
        # (A PostgreSQL restore keeps the appliance.toml it was given, and its secret key.)
        bootstrap.write()
    return BackupReport(snapshot=snapshot, database_bytes=manifest["database"]["size"],
                        blobs=len(manifest["blobs"]), blob_bytes=blob_bytes, copied_blobs=len(manifest["blobs"]),
                        copied_bytes=blob_bytes, seconds=time.monotonic() - started)

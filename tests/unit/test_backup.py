"""`appliance backup create | verify | restore`: a snapshot of the database and the blobs it names, blobs
copied once across snapshots, checksums that find a damaged blob, and a restore into an empty home only.
(With real clients publishing during the backup: tests/clients/test_backup_restore.py.)"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest
from click.testing import CliRunner

from appliance import create_app
from appliance import packages as service
from appliance.accounts.service import create_repository, create_user
from appliance.auth.permissions import Actor
from appliance.backup import find_snapshot, prune_snapshots, snapshots, verify_backup
from appliance.cli import main
from appliance.db import open_database
from appliance.jobs.scheduler import find_job, run_job
from appliance.models import PackageFile
from appliance.packages import FileUpload, VersionDraft
from appliance.settings import BackupConfig, Bootstrap
from appliance.storage.blobs import blob_path
from tests.support.databases import ENGINE, create_postgresql_database


def run(home, *args):
    return CliRunner().invoke(main, ["--home", str(home), *args])


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


@pytest.fixture
def served(bootstrap):
    """An appliance with two versions published: its home."""
    app = create_app(bootstrap)
    with app.app_context(), app.test_request_context():
        user = create_user("alice")
        create_repository(user, "hello")
        for version, content in (("1.0.0", b"one" * 1000), ("1.1.0", b"two" * 1000)):
            service.publish_version(
                Actor(user=user), owner_login="alice", fmt="npm", name="hello",
                draft=VersionDraft(version, {"name": "hello", "version": version}),
                uploads=[FileUpload(f"hello-{version}.tgz", [content])],
                repository_name=None, default_repository_name="hello")
    return bootstrap


def test_a_second_backup_copies_only_new_blobs_and_both_verify(served, tmp_path):
    target = tmp_path / "backups"
    first = ok(run(served.home, "backup", "create", str(target)))
    assert "2 blobs (6000 bytes), copied 2 new blobs (6000 bytes)" in first
    second = ok(run(served.home, "backup", "create", str(target)))
    assert "2 blobs (6000 bytes), copied 0 new blobs (0 bytes)" in second

    assert len(snapshots(target)) == 2
    for snapshot in snapshots(target):
        assert verify_backup(snapshot) == []
        manifest = json.loads((snapshot / "manifest.json").read_text())
        assert manifest["database"]["engine"] == ENGINE
        assert sorted(size for _, size in manifest["blobs"]) == [3000, 3000]
    assert "match the manifest" in ok(run(served.home, "backup", "verify", str(target)))


def test_verify_names_a_corrupt_and_a_missing_blob(served, tmp_path):
    target = tmp_path / "backups"
    ok(run(served.home, "backup", "create", str(target)))
    one, two = sorted(hashlib.sha256(c * 1000).hexdigest() for c in (b"one", b"two"))
    blob = target / blob_path(one)
    blob.write_bytes(b"x" + blob.read_bytes()[1:])
    (target / blob_path(two)).unlink()

    result = run(served.home, "backup", "verify", str(target))
    assert result.exit_code == 1
    assert f"blob {one} is corrupt: its bytes no longer hash to its sha256" in result.stderr
    assert f"blob {two} is missing" in result.stderr
    assert "is damaged: 2 problems" in result.stderr

    refused = run(tmp_path / "fresh", "backup", "restore", str(target))
    assert refused.exit_code == 1
    assert "the backup is damaged" in refused.stderr
    assert not (tmp_path / "fresh" / "appliance.toml").exists()


def test_restore_into_an_empty_home_brings_back_rows_and_bytes(served, tmp_path):
    target = tmp_path / "backups"
    ok(run(served.home, "backup", "create", str(target)))
    fresh = tmp_path / "fresh"
    if ENGINE == "postgresql":
        refused = run(fresh, "backup", "restore", str(target))
        assert refused.exit_code == 1 and "this backup is of a PostgreSQL database" in refused.stderr
        # A PostgreSQL backup goes into the empty database an appliance.toml of the new home names.
        empty = dataclasses.replace(Bootstrap.embedded_default(fresh),
                                    database_url=create_postgresql_database(migrated=False))
        empty.write()
    assert "2 blobs (6000 bytes)" in ok(run(fresh, "backup", "restore", str(target)))

    restored = Bootstrap.load(fresh)
    if ENGINE == "sqlite":
        assert restored.secret_key == served.secret_key
        assert restored.database_url == f"sqlite:///{fresh / 'appliance.db'}"
    open_database(restored.database_url)
    contents = {}
    for row in PackageFile.select():
        contents[row.name] = (restored.storage_path / blob_path(row.blob.sha256)).read_bytes()
    assert contents == {"hello-1.0.0.tgz": b"one" * 1000, "hello-1.1.0.tgz": b"two" * 1000}

    again = run(fresh, "backup", "restore", str(target))
    assert again.exit_code == 1
    assert f"{fresh} is not empty" in again.stderr


def test_a_snapshot_can_be_named_and_old_ones_pruned_with_their_blobs(served, tmp_path):
    target = tmp_path / "backups"
    ok(run(served.home, "backup", "create", str(target)))
    first = snapshots(target)[0]
    ok(run(served.home, "backup", "create", str(target)))
    assert find_snapshot(first) == (target.resolve(), first)
    assert find_snapshot(target)[1] == snapshots(target)[-1]

    assert prune_snapshots(target, keep=1) == 1
    assert snapshots(target) != [first] and len(snapshots(target)) == 1
    assert len(list((target / "blobs" / "sha256").glob("*/*"))) == 2  # still named by the kept one


def test_the_nightly_job_backs_up_into_the_configured_directory_and_keeps_the_newest(served, tmp_path):
    target = tmp_path / "nightly"
    configured = dataclasses.replace(served, backup=BackupConfig(dir=target, keep=2))
    configured.write()
    app = create_app(configured)
    job = find_job(configured, "backup")
    assert job.every == dt.timedelta(days=1)
    for _ in range(3):
        outcome = run_job(app, job, "node-a")
    assert "2 blobs (6000 bytes), copied 0 new blobs" in outcome and outcome.endswith("removed 1 old snapshots")
    assert len(snapshots(target)) == 2
    assert verify_backup(target) == []

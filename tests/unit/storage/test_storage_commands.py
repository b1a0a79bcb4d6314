"""`appliance storage verify` and `appliance storage migrate --to s3` against moto's S3 server, and the
cleanup job aborting multipart uploads a dead worker left on S3."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os

import pytest
from click.testing import CliRunner

from appliance import create_app
from appliance import packages as service
from appliance.accounts.service import create_user
from appliance.auth.permissions import Actor
from appliance.cli import main
from appliance.jobs import scheduler
from appliance.packages import FileUpload, VersionDraft
from appliance.settings import Bootstrap
from appliance.storage.blobs import blob_path
from appliance.storage.s3 import MIN_PART_SIZE, S3Storage
from tests.support.s3 import MotoServer, failing_store


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


def run(home, *args):
    return CliRunner().invoke(main, ["--home", str(home), *args])


@pytest.fixture
def stocked(app, bootstrap):
    """An appliance on local disk holding three blobs, one of them over S3's 5 MiB part minimum."""
    from appliance.accounts.service import create_repository

    contents = {"small.tgz": b"small" * 100, "medium.tgz": os.urandom(300_000),
                "large.tgz": os.urandom(MIN_PART_SIZE + 123)}
    with app.test_request_context():
        owner = create_user("owner", password="x" * 12, site_admin=True)
        create_repository(owner, "widget", "public")
        service.publish_version(
            Actor(user=owner), owner_login="owner", fmt="npm", name="widget",
            draft=VersionDraft("1.0.0", {"name": "widget", "version": "1.0.0"}),
            uploads=[FileUpload(filename, [data]) for filename, data in contents.items()],
            repository_name="widget", default_repository_name="widget")
    return bootstrap, {hashlib.sha256(data).hexdigest(): data for data in contents.values()}


def s3_arguments(moto, bucket: str) -> list[str]:
    return ["--to", "s3", "--endpoint-url", moto.endpoint_url, "--bucket", bucket, "--region", "us-east-1",
            "--prefix", "appliance", "--access-key-id", "testing", "--secret-access-key", "testing"]


def test_verify_passes_a_whole_store_and_names_what_is_missing_or_damaged(stocked):
    bootstrap, blobs = stocked
    result = run(bootstrap.home, "storage", "verify")
    assert result.exit_code == 0, result.output
    assert "all 3 blobs are in the store with the bytes their digests name" in result.stdout

    missing, damaged, _ = sorted(blobs)
    (bootstrap.storage_path / blob_path(missing)).unlink()
    damaged_path = bootstrap.storage_path / blob_path(damaged)
    damaged_path.write_bytes(b"X" * len(blobs[damaged]))  # same size, other bytes: only reading finds it

    result = run(bootstrap.home, "storage", "verify")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(missing in line and "missing from the store" in line and "npm owner/widget 1.0.0" in line
               for line in lines), lines
    assert any(damaged in line and "the stored bytes have the sha256" in line for line in lines), lines
    assert "2 of 3 blobs are missing or damaged" in result.stderr

    quick = run(bootstrap.home, "storage", "verify", "--quick")
    assert quick.exit_code == 1 and missing in quick.stderr and damaged not in quick.stderr


def test_migrate_copies_verifies_and_switches_the_appliance_to_s3(stocked, moto):
    bootstrap, blobs = stocked
    bucket = moto.new_bucket()
    result = run(bootstrap.home, "storage", "migrate", *s3_arguments(moto, bucket))
    assert result.exit_code == 0, result.output
    assert "copied 3 blobs" in result.stdout and "verified: all 3 blobs" in result.stdout

    moved = Bootstrap.load(bootstrap.home)
    assert moved.storage_backend == "s3"
    assert moved.storage_options["bucket"] == bucket and moved.storage_options["prefix"] == "appliance"
    keys = {item["Key"] for item in moto.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {f"appliance/{blob_path(sha256)}" for sha256 in blobs}

    # The appliance now reads every blob from S3.
    assert run(bootstrap.home, "storage", "verify").exit_code == 0
    store = create_app(moved).extensions["appliance.blobs"]
    for sha256, data in blobs.items():
        with store.open(sha256) as stream:
            assert stream.read() == data

    # A blob whose bytes are gone from S3 is reported by verify.
    lost = next(iter(blobs))
    moto.client().delete_object(Bucket=bucket, Key=f"appliance/{blob_path(lost)}")
    result = run(bootstrap.home, "storage", "verify")
    assert result.exit_code == 1 and lost in result.stderr and "missing from the store" in result.stderr


def test_migrate_run_again_copies_only_what_is_not_there_yet(stocked, moto):
    bootstrap, blobs = stocked
    bucket = moto.new_bucket()
    first = run(bootstrap.home, "storage", "migrate", "--no-switch", *s3_arguments(moto, bucket))
    assert first.exit_code == 0, first.output
    assert Bootstrap.load(bootstrap.home).storage_backend == "local"
    # As if the first run had stopped before this blob: S3 shows an object only once it is whole.
    gone = next(iter(blobs))
    moto.client().delete_object(Bucket=bucket, Key=f"appliance/{blob_path(gone)}")

    again = run(bootstrap.home, "storage", "migrate", *s3_arguments(moto, bucket))
    assert again.exit_code == 0, again.output
    assert "copied 1 blobs" in again.stdout and "2 were there already" in again.stdout
    assert Bootstrap.load(bootstrap.home).storage_backend == "s3"


def test_migrate_refuses_to_switch_when_a_source_blob_is_damaged(stocked, moto):
    bootstrap, blobs = stocked
    damaged = min(blobs)
    (bootstrap.storage_path / blob_path(damaged)).write_bytes(b"Y" * len(blobs[damaged]))
    bucket = moto.new_bucket()

    result = run(bootstrap.home, "storage", "migrate", *s3_arguments(moto, bucket))
    assert result.exit_code == 1
    assert damaged in result.stderr and "cannot be copied" in result.stderr and "nothing was switched" in result.stderr
    assert Bootstrap.load(bootstrap.home).storage_backend == "local"
    keys = {item["Key"] for item in moto.client().list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert f"appliance/{blob_path(damaged)}" not in keys and len(keys) == 2


def test_migrate_to_a_store_that_answers_500_fails_with_one_clear_line(stocked):
    bootstrap, _ = stocked
    with failing_store() as endpoint:
        result = run(bootstrap.home, "storage", "migrate", "--to", "s3", "--endpoint-url", endpoint,
                     "--bucket", "b", "--access-key-id", "testing", "--secret-access-key", "testing")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the object store") and "Traceback" not in result.output
    assert Bootstrap.load(bootstrap.home).storage_backend == "local"


def test_the_cleanup_job_aborts_multipart_uploads_a_dead_writer_left(bootstrap, moto, monkeypatch):
    on_s3 = dataclasses.replace(bootstrap, storage_backend="s3", storage_options=moto.options(prefix="appliance", part_size=MIN_PART_SIZE))
    app = create_app(on_s3)
    storage: S3Storage = app.extensions["appliance.blobs"].storage
    writer = storage.writer("uploads/sessions/dead")
    writer.write(os.urandom(MIN_PART_SIZE + 1))  # one part sent, the upload begun, then the worker died
    bucket = on_s3.storage_options["bucket"]
    assert len(moto.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1

    monkeypatch.setattr(service, "LEFTOVER_FILE_MIN_AGE", dt.timedelta(0))
    with app.app_context():
        outcome = scheduler.storage_cleanup()
    assert "aborted 1 unfinished multipart uploads" in outcome
    assert moto.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

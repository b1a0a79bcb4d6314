"""What one SQLite writer hid and a server database shows: races between requests on several workers
(and nodes) of one database. Runs on the engine of the run (APPLIANCE_TEST_DATABASE), so on both in
`scripts/test.sh`."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from appliance.db import open_database
from appliance.jobs.leases import acquire
from appliance.models import DownloadCount, Package, PackageVersion
from tests.support.live import LiveAppliance


def npm_document(name: str, version: str, tarball: bytes) -> dict:
    filename = f"{name}-{version}.tgz"
    return {
        "_id": name, "name": name, "dist-tags": {"latest": version},
        "versions": {version: {
            "name": name, "version": version, "description": "raced",
            "dist": {"integrity": "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode(),
                     "shasum": hashlib.sha1(tarball).hexdigest(), "tarball": f"http://x/{filename}"}}},
        "_attachments": {filename: {"content_type": "application/octet-stream",
                                    "data": base64.b64encode(tarball).decode(), "length": len(tarball)}},
    }


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    appliance = LiveAppliance(tmp_path_factory.mktemp("races") / "home", workers=4)
    appliance.set("hostname", "127.0.0.1")
    appliance.set("subdomain_isolation", False)
    appliance.user("alice")
    appliance.repo("alice/raced")
    appliance.repo("alice/counted")
    appliance.start()
    yield appliance
    appliance.stop()


def at_once(count: int, call):
    """Run `call(i)` in `count` threads released together; their results in order."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_two_publishes_of_the_same_new_version_give_one_success_and_one_conflict(live):
    token = live.token("alice")
    url = f"{live.origin}/_registry/npm/@alice%2fraced"

    def publish(i):
        document = npm_document("@alice/raced", "1.0.0", f"tarball {i}".encode() * 1000)
        return requests.put(url, json=document, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    answers = at_once(2, publish)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409] or statuses == [201, 409], [a.text for a in answers]
    conflict = next(a for a in answers if a.status_code == 409)
    assert "already exists" in conflict.json()["error"]
    packument = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    assert list(packument["versions"]) == ["1.0.0"]


def test_sixteen_concurrent_downloads_count_sixteen(live):
    token = live.token("alice")
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{live.origin}/_registry/npm/@alice%2fcounted"
    put = requests.put(base, json=npm_document("@alice/counted", "1.0.0", b"counted" * 100), headers=headers,
                       timeout=60)
    assert put.status_code in (200, 201), put.text
    tarball = f"{live.origin}/_registry/npm/@alice/counted/-/counted-1.0.0.tgz"

    answers = at_once(16, lambda i: requests.get(tarball, headers=headers, timeout=60))

    assert [a.status_code for a in answers] == [200] * 16
    with live.db():
        counted = (PackageVersion.select().join(Package)
                   .where(Package.lower_name == "@alice/counted", PackageVersion.version == "1.0.0").get())
        assert sum(row.count for row in DownloadCount.select().where(DownloadCount.version == counted.id)) == 16
        # The version's total moves in the same transaction as its day's row: none lost either. (Another
        # test of this module publishes its own 1.0.0, so the version is found through its package.)
        assert counted.downloads == 16


def test_one_holder_gets_a_lease_that_many_ask_for_at_once(bootstrap):
    """Each thread has a connection of its own, as scheduler processes on several nodes do."""
    open_database(bootstrap.database_url)
    ttl = dt.timedelta(minutes=5)

    def ask(i):
        from appliance.db import database

        with database.connection_context():
            return acquire("storage_cleanup", f"node-{i}", ttl)

    assert sorted(at_once(8, ask)) == [False] * 7 + [True]
    # An expired lease is taken over by exactly one of those asking.
    from appliance.models.jobs import SchedulerLease

    SchedulerLease.update(expires_at=dt.datetime(2000, 1, 1)).execute()
    assert sorted(at_once(8, ask)) == [False] * 7 + [True]

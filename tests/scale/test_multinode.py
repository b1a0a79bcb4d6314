"""Two appliance nodes (homes of their own sharing a PostgreSQL database, a store and a secret key) behind
nginx terminating TLS for HOST and *.HOST, on a shared local directory and on S3 (moto's server). The
nodes run on PostgreSQL in both passes of scripts/test.sh: machines cannot share one SQLite file.

The uploads speak the OCI distribution protocol with requests, because the tests must choose which node
each request reaches, which a real client behind a balancer cannot (tests/clients/test_clients_over_https.py
runs the real clients through the same nginx).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from appliance.models.jobs import JobStatus
from appliance.packages.uploads import WRITE_LEASE
from appliance.settings import LdapConfig
from tests.scale.test_concurrency import npm_document
from tests.support.cluster import HOSTNAME, Cluster
from tests.support.live import LiveAppliance
from tests.support.s3 import MotoServer

MiB = 1024 * 1024
IMAGE = "alice/app/img"
DOCKER_HOST = f"docker.{HOSTNAME}"


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["local", "s3"])
def cluster(request, tmp_path_factory, moto):
    root = tmp_path_factory.mktemp(f"cluster-{request.param}")
    with Cluster(root, store=request.param, moto=moto) as running:
        first = running.nodes[0]
        first.user("alice")
        first.repo("alice/app", "public")
        running.token = first.token("alice")
        yield running


def docker_url(cluster: Cluster) -> str:
    return cluster.proxy.url("docker")


def bearer_token(cluster: Cluster) -> str:
    """A registry bearer token from the token endpoint, through nginx: signed by whichever node answered,
    with the secret key every node shares."""
    answer = cluster.proxy.session().get(
        f"{docker_url(cluster)}/token", params={"service": DOCKER_HOST, "scope": f"repository:{IMAGE}:push,pull"},
        auth=("alice", cluster.token), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


class Registry:
    """The blob upload endpoints of one way in: nginx (`via=None`) or one node directly, as nginx would
    reach it (Host and X-Forwarded-* of the public origin)."""

    def __init__(self, cluster: Cluster, token: str, via: LiveAppliance | None = None):
        self.headers = {"Authorization": f"Bearer {token}"}
        if via is None:
            self.session, self.base = cluster.proxy.session(), docker_url(cluster)
        else:
            self.session, self.base = requests.Session(), via.origin
            self.headers.update({"Host": DOCKER_HOST, "X-Forwarded-Proto": "https",
                                 "X-Forwarded-Host": f"{DOCKER_HOST}:{cluster.proxy.port}"})

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, f"{self.base}{path}", headers={**self.headers, **kwargs.pop("headers", {})},
                                    timeout=kwargs.pop("timeout", 60), **kwargs)

    def start(self) -> str:
        answer = self.request("POST", f"/v2/{IMAGE}/blobs/uploads/")
        assert answer.status_code == 202, answer.text
        return urlsplit(answer.headers["Location"]).path

    def patch(self, upload: str, data, start: int, length: int) -> requests.Response:
        return self.request("PATCH", upload, data=data, headers={
            "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + length - 1}",
            "Content-Length": str(length)})

    def size(self, upload: str) -> int:
        answer = self.request("GET", upload)
        assert answer.status_code == 204, answer.text
        return int(answer.headers["Range"].rsplit("-", 1)[1]) + 1

    def finish(self, upload: str, digest: str) -> requests.Response:
        return self.request("PUT", upload, params={"digest": digest})

    def blob(self, digest: str) -> bytes:
        answer = self.request("GET", f"/v2/{IMAGE}/blobs/{digest}", allow_redirects=False)
        if answer.status_code == 307:  # to the store (redirect_downloads): a request of its own, as clients do
            answer = requests.get(answer.headers["Location"], timeout=60)
        assert answer.status_code == 200, answer.text[:500]
        return answer.content


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_chunked_upload_started_on_one_node_is_finished_on_the_other(cluster):
    token = bearer_token(cluster)
    first, second = (Registry(cluster, token, via=node) for node in cluster.nodes)
    # A first chunk above S3's 5 MiB part minimum (continued by a server-side part copy), then one below.
    chunks = [os.urandom(6 * MiB), os.urandom(MiB), os.urandom(2 * MiB)]
    blob = b"".join(chunks)

    upload = first.start()
    assert first.patch(upload, chunks[0], 0, len(chunks[0])).status_code == 202
    assert second.size(upload) == len(chunks[0])
    assert second.patch(upload, chunks[1], len(chunks[0]), len(chunks[1])).status_code == 202
    assert first.patch(upload, chunks[2], len(chunks[0]) + len(chunks[1]), len(chunks[2])).status_code == 202
    finished = second.finish(upload, sha256_digest(blob))
    assert finished.status_code == 201, finished.text

    for way_in in (first, second, Registry(cluster, token)):
        assert way_in.blob(sha256_digest(blob)) == blob
    if cluster.store == "s3":  # the bytes came from the store itself, by a presigned URL
        answer = first.request("GET", f"/v2/{IMAGE}/blobs/{sha256_digest(blob)}", allow_redirects=False)
        assert answer.status_code == 307 and answer.headers["Location"].startswith(cluster.moto.endpoint_url)


def _bytes_received(node: LiveAppliance) -> dict[str, str]:
    """Bytes each open connection of the node has received so far (`ss`), by the peer's address: which
    node serves a request nginx balanced is the one with a connection that grows with its body."""
    listing = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{node.port} )"],
                             capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"\S+:\d+\s+(\S+:\d+)\s.*?bytes_received:(\d+)", listing.replace("\n\t", " ")))


def _largest_growth(before: dict[str, str], after: dict[str, str]) -> int:
    return max((int(count) - int(before.get(peer, 0)) for peer, count in after.items()), default=0)


class PausingBody:
    """A request body sent in 1 MiB pieces that stops after `pause_at` bytes until told to go on; its
    length is known, so requests sends it with Content-Length, as OCI clients send chunks."""

    def __init__(self, data: bytes, pause_at: int):
        self.data, self.pause_at = data, pause_at
        self.paused, self.resume = threading.Event(), threading.Event()

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        for offset in range(0, len(self.data), MiB):
            if offset == self.pause_at:
                self.paused.set()
                self.resume.wait(60)
            yield self.data[offset:offset + MiB]


def test_a_node_killed_mid_upload_leaves_the_client_able_to_resume_on_the_other(cluster):
    registry = Registry(cluster, bearer_token(cluster))
    first, second = os.urandom(6 * MiB), os.urandom(24 * MiB)
    blob = first + second
    upload = registry.start()
    assert registry.patch(upload, first, 0, len(first)).status_code == 202

    before = {node.port: _bytes_received(node) for node in cluster.nodes}
    body = PausingBody(second, pause_at=16 * MiB)
    outcome: dict = {}

    def send():
        try:
            outcome["answer"] = registry.patch(upload, body, len(first), len(second))
        except requests.RequestException as e:
            outcome["error"] = e

    sender = threading.Thread(target=send)
    sender.start()
    assert body.paused.wait(60)
    time.sleep(0.5)  # what nginx holds reaches the node
    grown = {node.port: _largest_growth(before[node.port], _bytes_received(node)) for node in cluster.nodes}
    serving = next((node for node in cluster.nodes if grown[node.port] > 4 * MiB), None)
    assert serving is not None, grown
    try:
        serving.kill()
        body.resume.set()
        sender.join(60)
        # The cut-off request failed: nginx could not hand the rest of the body to anyone.
        assert "error" in outcome or outcome["answer"].status_code >= 500, outcome

        # The client asks where the upload stands (nginx now reaches the other node) and goes on from there.
        held = registry.size(upload)
        assert len(first) <= held <= len(blob)
        # The dead worker's hold on the upload lapses within WRITE_LEASE; until then the answer is 416. And
        # nginx tries the dead node again every fail_timeout: a streamed body it cannot hand to another
        # node then is a 502. The client tries again, as docker and skopeo do.
        deadline = time.monotonic() + WRITE_LEASE.total_seconds() + 15
        while (resumed := registry.patch(upload, blob[held:], held, len(blob) - held)).status_code in (416, 502) \
                and time.monotonic() < deadline:
            time.sleep(1)
        assert resumed.status_code == 202, resumed.text
        finished = registry.finish(upload, sha256_digest(blob))
        assert finished.status_code == 201, finished.text
        assert registry.blob(sha256_digest(blob)) == blob
    finally:
        body.resume.set()
        serving.start()


@pytest.mark.parametrize("cluster", ["local"], indirect=True)
def test_a_setting_changed_on_one_node_is_seen_by_the_other_at_once(cluster):
    first, second = cluster.nodes
    token = cluster.token
    published = requests.put(f"{first.origin}/_registry/npm/@alice%2fapp", timeout=60,
                             json=npm_document("@alice/app", "1.0.0", b"shared" * 100),
                             headers={"Authorization": f"Bearer {token}", "Host": HOSTNAME})
    assert published.status_code in (200, 201), published.text

    def anonymous_read_on_second() -> int:
        return requests.get(f"{second.origin}/_registry/npm/@alice%2fapp", headers={"Host": HOSTNAME},
                            timeout=30).status_code

    assert anonymous_read_on_second() == 200
    changed = subprocess.run([sys.executable, "-m", "appliance", "--home", str(first.home), "config", "set",
                              "anonymous_read", "false"], capture_output=True, text=True, check=False)
    assert changed.returncode == 0, changed.stderr
    try:
        assert anonymous_read_on_second() == 401
    finally:
        first.set("anonymous_read", True)
    assert anonymous_read_on_second() == 200


@contextlib.contextmanager
def silent_directory():
    """An LDAP server that accepts connections and never answers: a job against it takes its timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"ldap://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@pytest.mark.parametrize("cluster", ["local"], indirect=True)
def test_one_scheduler_runs_a_job_while_the_other_nodes_scheduler_finds_it_held(cluster):
    """Each node runs the ldap_sync job at once against a directory that takes 4 s to fail: one of
    them runs it, the other skips it, as the lease in the shared database says."""
    with silent_directory() as uri:
        ldap = LdapConfig(uris=(uri,), user_base="ou=people,dc=test", timeout=4)
        homes = []
        for index, node in enumerate(cluster.nodes):
            home = cluster.root / f"scheduler{index + 1}"
            cluster.node_bootstrap(index, home=home, ldap=ldap).write()
            homes.append(home)
        runs = [subprocess.Popen([sys.executable, "-m", "appliance", "--home", str(home), "jobs", "run",
                                  "ldap_sync"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for home in homes]
        outputs = [run.communicate(timeout=120) for run in runs]

    said = sorted(out + err for out, err in outputs)
    assert sum("another scheduler holds it" in text for text in said) == 1, said
    assert sum("ldap_sync failed" in text for text in said) == 1, said
    with cluster.nodes[0].db():
        status = JobStatus.get(JobStatus.name == "ldap_sync")
        assert status.runs == 1 and status.last_outcome == "failed"

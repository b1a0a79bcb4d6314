"""The real Docker CLI and daemon (Debian's docker.io) against the appliance under gunicorn on
docker.appliance.test: docker login through the token flow, docker push of a loaded image, docker pull
into an emptied daemon giving the same image id, a multi-arch index pulled per platform, and a private
image refused to an anonymous pull and to an outsider, as docker prints it. One dockerd for the module."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.clients.conftest import require_client
from tests.support.docker_cli import DOCKER, Dockerd
from tests.support.live import LiveAppliance
from tests.support.maven import RunResult
from tests.support.oci import build_index, build_runnable_image, digest_of, random_bytes, write_oci_layout
from tests.support.skopeo import Skopeo

HOSTNAME = "appliance.test"
FULL = "read:packages,write:packages,delete:packages,repo"


@dataclass
class DockerSite:
    appliance: LiveAppliance
    dockerd: Dockerd
    skopeo: Skopeo
    registry: str  # docker.HOST:PORT
    tokens: dict[str, str]
    work: Path

    def docker(self, *args: str, who: str | None = "alice", input: str | None = None) -> RunResult:
        """The docker CLI as `who` (a config of their own, where their login is kept; None: nobody)."""
        return self.dockerd.run(*args, config=self.work / f"config-{who or 'anonymous'}", input=input)

    def login(self, who: str) -> RunResult:
        return self.docker("login", self.registry, "-u", who, "--password-stdin", who=who,
                           input=self.tokens[who])

    def load(self, image, name: str) -> str:
        """Load `image` into the daemon as `name` (from a docker archive skopeo makes of an OCI layout);
        returns its image id."""
        layout = self.work / f"layout-{digest_of(image.manifest)[7:19]}"
        write_oci_layout(layout, "v1", image)
        archive = self.work / f"{layout.name}.tar"
        archive.unlink(missing_ok=True)
        made = self.skopeo.run("copy", f"oci:{layout}:v1", f"docker-archive:{archive}:{name}")
        assert made.returncode == 0, made.output
        loaded = self.docker("load", "-i", str(archive))
        assert loaded.returncode == 0, loaded.output
        return self.image_id(name)

    def image_id(self, name: str) -> str:
        inspected = self.docker("image", "inspect", "--format", "{{.Id}}", name)
        assert inspected.returncode == 0, inspected.output
        return inspected.stdout.strip()

    def empty_daemon(self) -> None:
        ids = self.docker("images", "-aq").stdout.split()
        if ids:
            removed = self.docker("rmi", "-f", *sorted(set(ids)))
            assert removed.returncode == 0, removed.output
        assert self.docker("images", "-aq").stdout.strip() == ""

    def http(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.appliance.origin}{path}", auth=("alice", self.tokens["alice"]),
                                headers={"Host": self.registry, **kwargs.pop("headers", {})}, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_client("dockerd")
    require_client(DOCKER)
    require_client("skopeo")
    require_client("unshare")
    work = tmp_path_factory.mktemp("docker")
    appliance = LiveAppliance(work / "home")
    appliance.set("hostname", HOSTNAME)
    appliance.set("subdomain_isolation", True)
    appliance.user("alice")
    appliance.user("bob")
    appliance.repo("alice/libs")
    appliance.repo("alice/secret", "private")
    tokens = {"alice": appliance.token("alice", FULL), "bob": appliance.token("bob", FULL)}
    appliance.start()
    hosts = work / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {HOSTNAME} docker.{HOSTNAME}\n")
    dockerd = Dockerd(work / "dockerd", hosts).start()
    try:
        yield DockerSite(appliance, dockerd, Skopeo(hosts, f"docker.{HOSTNAME}:{appliance.port}", work / "skopeo"),
                         f"docker.{HOSTNAME}:{appliance.port}", tokens, work)
    finally:
        dockerd.stop()
        appliance.stop()


def test_docker_login_goes_through_the_token_flow_and_refuses_a_wrong_token(site):
    logged_in = site.login("alice")
    assert logged_in.returncode == 0 and "Login Succeeded" in logged_in.output, logged_in.output
    stored = json.loads((site.work / "config-alice" / "config.json").read_text())
    assert site.registry in stored["auths"]
    # The daemon was sent to /token by the challenge and traded the token there.
    assert '"GET /token?' in site.appliance.log_path.read_text()
    refused = site.docker("login", site.registry, "-u", "alice", "--password-stdin", who="wrong",
                          input="apt_not_a_token")
    assert refused.returncode != 0, refused.output
    assert "unauthorized: bad credentials" in refused.output, refused.output


def test_docker_push_of_a_loaded_image_and_pull_into_an_emptied_daemon_give_the_same_image_id(site):
    site.login("alice")
    image = build_runnable_image([{"hello": b"#!/bin/sh\necho hello\n"}, {"data/blob.bin": random_bytes(300_000)}])
    name = f"{site.registry}/alice/libs/app:1.0"
    image_id = site.load(image, name)
    assert image_id == digest_of(image.blobs[0])  # the id is the config's digest

    pushed = site.docker("push", name)
    assert pushed.returncode == 0, pushed.output
    assert "1.0: digest: sha256:" in pushed.output
    manifest_digest = pushed.output.split("digest: ")[1].split()[0]

    site.empty_daemon()
    pulled = site.docker("pull", name)
    assert pulled.returncode == 0, pulled.output
    assert f"Digest: {manifest_digest}" in pulled.output
    assert site.image_id(name) == image_id
    # Pushed again from a daemon that has it: every layer is already there.
    again = site.docker("push", name)
    assert again.returncode == 0 and again.output.count("Layer already exists") == 2, again.output


def test_a_multi_arch_index_is_pulled_for_the_daemons_platform_and_for_another(site):
    site.login("alice")
    amd = build_runnable_image([{"arch": b"amd64\n"}])
    arm = build_runnable_image([{"arch": b"arm64\n"}], architecture="arm64")
    index = build_index([amd, arm])
    layout = site.work / "multi-arch"
    write_oci_layout(layout, "multi", index, [amd, arm])
    ref = site.skopeo.ref("alice/libs/multi:2.0")
    pushed = site.skopeo.copy(f"oci:{layout}:multi", ref, f"alice:{site.tokens['alice']}", "--all")
    assert pushed.returncode == 0, pushed.output

    site.empty_daemon()
    name = f"{site.registry}/alice/libs/multi:2.0"
    pulled = site.docker("pull", name)
    assert pulled.returncode == 0, pulled.output
    assert f"Digest: {index.digest}" in pulled.output
    assert site.image_id(name) == digest_of(amd.blobs[0])
    other = site.docker("pull", "--platform", "linux/arm64", name)
    assert other.returncode == 0, other.output
    assert site.image_id(name) == digest_of(arm.blobs[0])


def test_a_private_image_is_refused_to_an_anonymous_pull_and_to_an_outsider(site):
    site.login("alice")
    image = build_runnable_image([{"secret": b"classified\n"}])
    name = f"{site.registry}/alice/secret/vault:1.0"
    site.load(image, name)
    assert site.docker("push", name).returncode == 0
    site.empty_daemon()

    # Anonymous: the registry asks for credentials; docker says so.
    anonymous = site.docker("pull", name, who=None)
    assert anonymous.returncode != 0
    assert "unauthorized: authentication required" in anonymous.output, anonymous.output
    # Someone signed in who may not see the repository: as if it did not exist, so nothing leaks.
    site.login("bob")
    outsider = site.docker("pull", name, who="bob")
    assert outsider.returncode != 0
    assert f"repository {site.registry}/alice/secret/vault not found: name unknown" in outsider.output, \
        outsider.output
    assert site.docker("images", "-q", who="bob").stdout.strip() == ""
    # Nor can the outsider push there, with the image in their daemon.
    site.load(image, name)
    refused = site.docker("push", name, who="bob")
    assert refused.returncode != 0
    assert "name unknown: repository name not known to registry" in refused.output, refused.output
    # Alice still pulls it.
    site.empty_daemon()
    assert site.docker("pull", name).returncode == 0
    assert site.image_id(name) == digest_of(image.blobs[0])

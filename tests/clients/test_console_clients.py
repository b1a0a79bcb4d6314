"""Maintenance mode as the real clients and a page see it (npm, mvn, skopeo): 503 with Retry-After and the
administrators' message in each client's own error shape, with whom to ask and a request id; /_health
stays up; turning it off restores everything. Switched on and off with the CLI (`appliance maintenance`),
the console's other face."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance
from tests.support.maven import (
    SERVER_ID,
    maven_registry,
    require_debian_plugins,
    run_mvn,
    write_project,
    write_settings,
)
from tests.support.npm import Npm
from tests.support.oci import build_image, random_layer, write_oci_layout
from tests.support.skopeo import Skopeo

HOSTNAME = "appliance.test"
MESSAGE = "Upgrading the appliance to 3.1, back at 23:00 UTC"


@dataclass
class Site:
    live: LiveAppliance
    token: str
    work: Path
    skopeo: Skopeo

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return self.live.cli(*args)

    def npm(self, name: str) -> Npm:
        return Npm(self.work / name, f"{self.live.origin}/_registry/npm/", "alice", self.token)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_client("npm")
    require_client("mvn")
    require_client("skopeo")
    require_client("unshare")
    require_debian_plugins()
    work = tmp_path_factory.mktemp("maintenance")
    live = LiveAppliance(work / "home")
    live.set("hostname", HOSTNAME)
    live.set("support_contact", "packages-admins@example.com")
    live.user("alice")
    live.repo("alice/libs", "private")
    token = live.token("alice")
    live.start()
    hosts = work / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {HOSTNAME} docker.{HOSTNAME}\n")
    skopeo = Skopeo(hosts, f"docker.{HOSTNAME}:{live.port}", work / "skopeo-home")
    yield Site(live, token, work, skopeo)
    live.stop()


def test_maintenance_seen_by_npm_mvn_skopeo_and_a_page(site):
    # Something to install, pushed before maintenance begins.
    author = site.npm("author")
    author.write_package("@alice/hello", "1.0.0", repository="alice/libs")
    assert author.run("publish").returncode == 0
    source = site.work / "image"
    write_oci_layout(source, "v1", build_image([random_layer(2048)]))
    assert site.skopeo.copy(f"oci:{source}:v1", site.skopeo.ref("alice/libs/app:v1"),
                            f"alice:{site.token}").returncode == 0

    on = site.cli("maintenance", "on", "--message", MESSAGE)
    assert on.returncode == 0 and f"maintenance mode is on: {MESSAGE}" in on.stdout, on.stderr
    try:
        # npm: the status line and the message; no retries, so the test does not wait for them.
        viewed = site.npm("viewer").run("view", "@alice/hello", "version", "--fetch-retries=0")
        assert viewed.returncode != 0
        assert "503 SERVICE UNAVAILABLE - GET" in viewed.output, viewed.output
        assert MESSAGE in viewed.output and "packages-admins@example.com" in viewed.output
        assert "request id" in viewed.output

        # mvn resolving a dependency: the reason phrase it prints carries the message.
        registry = maven_registry(site.live.origin, "alice", "libs")
        project = write_project(site.work / "consumer", group_id="com.acme", artifact_id="consumer",
                                version="1.0", registry=registry, dependencies=[("com.acme", "widget", "1.0")])
        settings = write_settings(site.work / "settings.xml", site.work / "m2", "alice", site.token)
        resolved = run_mvn(project, settings, "compile")
        assert resolved.returncode != 0
        assert "503" in resolved.output and "Upgrading the appliance to 3.1" in resolved.output, resolved.output[-3000:]
        assert SERVER_ID in resolved.output

        # skopeo: the OCI error code and message.
        inspected = site.skopeo.remote("inspect", "alice/libs/app:v1", f"alice:{site.token}")
        assert inspected.returncode != 0
        assert "Upgrading the appliance to 3.1" in inspected.output, inspected.output

        # a page, the API, and the health check load balancers use
        page = requests.get(f"{site.live.origin}/", timeout=30)
        assert page.status_code == 503 and MESSAGE in page.text and page.headers["Retry-After"] == "300"
        assert page.headers["X-Request-Id"] in page.text  # the footer shows the id to quote
        assert requests.get(f"{site.live.origin}/_health", timeout=30).status_code == 200
        # the request id each answer carries is in the server's log
        answer = requests.get(f"{site.live.origin}/_registry/npm/@alice%2fhello", timeout=30)
        assert answer.status_code == 503
        rid = answer.headers["X-Request-Id"]
        assert rid in answer.json()["error"]
    finally:
        off = site.cli("maintenance", "off")
        assert off.returncode == 0 and "maintenance mode is off" in off.stdout
    assert f"request_id={rid}" in site.live.log_path.read_text()

    viewed = site.npm("viewer").run("view", "@alice/hello", "version")
    assert (viewed.returncode, viewed.stdout.strip()) == (0, "1.0.0"), viewed.output
    assert site.skopeo.remote("inspect", "alice/libs/app:v1", f"alice:{site.token}").returncode == 0

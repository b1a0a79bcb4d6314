"""The editions through the real clients (npm, skopeo), on one server whose `edition` setting changes between
steps, as every worker reads it on its next request: the visibility choices (a publish to a repository of a
visibility the edition does not offer is refused, and so is creating one), Docker's dependence on subdomain
isolation (refused by skopeo with the reason under enterprise-server, served anyway in cloud), and where
users are sent for help in the error answers clients print (the site administrators' contact, or in cloud
the vendor's support form)."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance
from tests.support.npm import Npm
from tests.support.oci import build_image, random_layer, write_oci_layout
from tests.support.skopeo import Skopeo

HOSTNAME = "appliance.test"
ADMINS = "packages-admins@example.com"
VENDOR = "https://support.example.com/contact"


@dataclass
class Site:
    live: LiveAppliance
    token: str
    work: Path
    skopeo: Skopeo

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return self.live.cli(*args)

    def npm_publish(self, name: str, repository: str):
        npm = Npm(self.work / name.replace("/", "-"), f"{self.live.origin}/_registry/npm/", "alice", self.token)
        npm.write_package(name, "1.0.0", repository=repository)
        return npm.run("publish")

    def push_image(self, image: str):
        source = self.work / "image"
        if not source.exists():
            write_oci_layout(source, "v1", build_image([random_layer(2048)]))
        return self.skopeo.copy(f"oci:{source}:v1", self.skopeo.ref(image), f"alice:{self.token}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    for client in ("npm", "skopeo", "unshare"):
        require_client(client)
    work = tmp_path_factory.mktemp("editions")
    live = LiveAppliance(work / "home")
    live.set("hostname", HOSTNAME)
    live.set("support_contact", ADMINS)
    live.set("support_url", VENDOR)
    live.user("alice")
    for name, visibility in (("open", "public"), ("team", "internal"), ("libs", "private")):
        live.repo(f"alice/{name}", visibility)
    token = live.token("alice")
    live.start()
    hosts = work / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {HOSTNAME} docker.{HOSTNAME}\n")
    yield Site(live, token, work, Skopeo(hosts, f"docker.{HOSTNAME}:{live.port}", work / "skopeo-home"))
    live.stop()


@pytest.fixture
def edition(site):
    """Set the edition for one test; the default (enterprise-server) and isolation on again after it."""
    yield lambda name: site.live.set("edition", name)
    site.live.set("edition", "enterprise-server")
    site.live.set("subdomain_isolation", True)
    site.live.set("formats.npm.enabled", True)
    site.live.set("formats.docker.enabled", True)


def test_visibility_choices_per_edition(site, edition):
    edition("cloud")
    refused = site.npm_publish("@alice/team-tools", "alice/team")
    assert refused.returncode != 0
    assert ("alice/team is internal, which the cloud edition does not offer (public, private): nothing can be "
            "published to it until a site administrator changes its visibility") in refused.output, refused.output
    assert site.npm_publish("@alice/open-tools", "alice/open").returncode == 0
    created = site.cli("repos", "create", "alice/staff", "--visibility", "internal")
    assert created.returncode != 0
    assert "the cloud edition offers public, private repositories, not internal" in created.stderr

    edition("ae")
    refused = site.npm_publish("@alice/open-more", "alice/open")
    assert refused.returncode != 0
    assert "alice/open is public, which the ae edition does not offer (private, internal)" in refused.output
    assert site.npm_publish("@alice/team-tools", "alice/team").returncode == 0

    # Back in enterprise-server every visibility takes publishes again: nothing was lost on the way.
    edition("enterprise-server")
    assert site.npm_publish("@alice/open-more", "alice/open").returncode == 0


def test_docker_needs_subdomain_isolation_except_in_cloud(site, edition):
    site.live.set("subdomain_isolation", False)
    refused = site.push_image("alice/libs/app:v1")
    assert refused.returncode != 0
    assert "the Docker registry needs subdomain isolation" in refused.output, refused.output

    edition("cloud")  # always on docker.HOSTNAME
    pushed = site.push_image("alice/libs/app:v1")
    assert pushed.returncode == 0, pushed.output
    assert site.skopeo.remote("inspect", "alice/libs/app:v1", f"alice:{site.token}").returncode == 0


@pytest.mark.parametrize(("name", "contact"), [("enterprise-server", ADMINS), ("cloud", VENDOR)])
def test_the_support_line_follows_the_edition(site, edition, name, contact):
    edition(name)
    other = ({ADMINS, VENDOR} - {contact}).pop()
    site.live.set("formats.npm.enabled", False)
    site.live.set("formats.docker.enabled", False)
    refused = site.npm_publish("@alice/helpless", "alice/libs")
    assert refused.returncode != 0
    assert "the npm registry is switched off on this appliance" in refused.output, refused.output
    assert contact in refused.output and other not in refused.output
    inspected = site.skopeo.remote("inspect", "alice/libs/app:v1", f"alice:{site.token}")
    assert inspected.returncode != 0
    assert "the docker registry is switched off on this appliance" in inspected.output, inspected.output
    assert contact in inspected.output and other not in inspected.output

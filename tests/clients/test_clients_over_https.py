"""The real clients over HTTPS through nginx (config/nginx.conf.example, TLS for HOST and *.HOST with a
test CA) in front of two appliance nodes sharing PostgreSQL, a store and a secret key, as users run them:
npm, skopeo, gem, mvn and NuGet.exe, each trusting the test CA and nothing else, each on the registry's
subdomain. Every client sends several requests in a row, so nginx spreads each one over both nodes."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clients.conftest import require_client
from tests.support.cluster import HOSTNAME, Cluster
from tests.support.maven import RunResult, require_debian_plugins, write_project, write_settings
from tests.support.npm import Npm
from tests.support.nuget import NuGet, require_nuget
from tests.support.oci import build_image, digest_of, random_layer, write_oci_layout
from tests.support.rubygems import RubyClients
from tests.support.skopeo import run_with_hosts

FULL = "read:packages,write:packages,delete:packages,repo"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"),
                                reason="the clients resolve HOST in a mount namespace of their own (root)")


@dataclass
class Site:
    cluster: Cluster
    token: str
    work: Path

    @property
    def ca(self):
        return self.cluster.ca

    @property
    def hosts(self) -> Path:
        return self.ca.hosts_file()

    def url(self, subdomain: str) -> str:
        return self.cluster.proxy.url(subdomain)

    def served_by_both_nodes(self, path_part: str) -> bool:
        """Whether requests whose line holds `path_part` reached both nodes (nginx's upstream log)."""
        lines = [line for line in self.cluster.proxy.access_log.read_text().splitlines() if path_part in line]
        return all(any(node.address in line for line in lines) for node in self.cluster.nodes)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_client("unshare")
    work = tmp_path_factory.mktemp("https")
    with Cluster(work / "cluster") as cluster:
        first = cluster.nodes[0]
        first.user("alice")
        first.repo("alice/widgets", "private")
        yield Site(cluster, first.token("alice", FULL), work)


def test_npm_publishes_and_installs_over_https(site):
    require_client("npm")
    publisher = Npm(site.work / "npm-publisher", f"{site.url('npm')}/", "alice", site.token, hosts_file=site.hosts)
    publisher.env.update(site.ca.client_env(), npm_config_cafile=str(site.ca.cert))
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        publisher.write_package("@alice/hello", version, repository="alice/widgets")
        published = publisher.run("publish", timeout=120)
        assert published.returncode == 0, published.output

    consumer = Npm(site.work / "npm-consumer", f"{site.url('npm')}/", "alice", site.token, hosts_file=site.hosts)
    consumer.env.update(site.ca.client_env(), npm_config_cafile=str(site.ca.cert))
    consumer.write_consumer()
    installed = consumer.run("install", "@alice/hello@^1", timeout=120)
    assert installed.returncode == 0, installed.output
    assert consumer.installed_version("@alice/hello") == "1.1.0"
    tags = consumer.run("dist-tag", "ls", "@alice/hello")
    assert tags.returncode == 0 and "latest: 2.0.0" in tags.stdout, tags.output


def test_skopeo_pushes_and_pulls_an_image_over_https_verifying_the_certificate(site):
    require_client("skopeo")
    image = build_image([random_layer(3 * 1024 * 1024), random_layer(64 * 1024)])
    source, back = site.work / "oci-source", site.work / "oci-back"
    write_oci_layout(source, "v1", image)
    home = site.work / "skopeo-home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(home), REGISTRY_AUTH_FILE=str(home / "auth.json"))
    ref = f"docker://docker.{HOSTNAME}:{site.cluster.proxy.port}/alice/widgets/app:v1"
    creds, certs = f"alice:{site.token}", str(site.ca.cert_dir())

    pushed = run_with_hosts(site.hosts, ["skopeo", "copy", "--dest-cert-dir", certs, "--dest-creds", creds,
                                         f"oci:{source}:v1", ref], env=env)
    assert pushed.returncode == 0, pushed.output
    pulled = run_with_hosts(site.hosts, ["skopeo", "copy", "--src-cert-dir", certs, "--src-creds", creds,
                                         ref, f"oci:{back}:v1"], env=env)
    assert pulled.returncode == 0, pulled.output
    assert json.loads((back / "index.json").read_text())["manifests"][0]["digest"] == image.digest
    for blob in image.blobs:
        assert (back / "blobs" / "sha256" / digest_of(blob).split(":")[1]).read_bytes() == blob

    untrusted = run_with_hosts(site.hosts, ["skopeo", "inspect", "--creds", creds, ref], env=env)
    assert untrusted.returncode != 0 and "certificate" in untrusted.output, untrusted.output

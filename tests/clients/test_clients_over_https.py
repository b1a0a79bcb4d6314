"""The real clients over HTTPS through nginx (config/nginx.conf.example, TLS for HOST and *.HOST with a
test CA) in front of two appliance nodes sharing PostgreSQL, a store and a secret key, as users run them:
npm, skopeo, gem, mvn, NuGet.exe and the Docker daemon, each trusting the test CA and nothing else, each on
the registry's subdomain; nginx spreads each client's requests over both nodes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.clients.conftest import require_client
from tests.support.cluster import HOSTNAME, Cluster
from tests.support.docker_cli import DOCKER, Dockerd
from tests.support.maven import RunResult, require_debian_plugins, write_project, write_settings
from tests.support.npm import Npm
from tests.support.nuget import NuGet, require_nuget
from tests.support.oci import (
    build_image,
    build_runnable_image,
    digest_of,
    random_bytes,
    random_layer,
    write_oci_layout,
)
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


def test_gem_pushes_and_installs_over_https(site):
    require_client("gem")
    clients = RubyClients(site.work / "gem", hosts_file=site.hosts)
    clients.env.update(SSL_CERT_FILE=str(site.ca.cert))
    source = f"{site.url('rubygems')}/alice"
    for version in ("1.0.0", "1.1.0"):
        gem = clients.build("teapot", version, metadata={"github_repo": "alice/widgets"})
        pushed = clients.push(gem, source, site.token)
        assert pushed.returncode == 0, pushed.output

    host = urlsplit(source).netloc
    installed = clients.install("teapot", f"https://alice:{site.token}@{host}/alice/")
    assert installed.returncode == 0, installed.output
    assert "teapot-1.1.0" in clients.installed()


def run_mvn_over_https(site: Site, project: Path, settings: Path, *args: str) -> RunResult:
    """mvn resolving HOST through the hosts file and trusting the test CA's truststore."""
    truststore = site.ca.java_truststore()
    env = dict(os.environ, MAVEN_OPTS=f"-Xmx512m -Djavax.net.ssl.trustStore={truststore} "
                                      "-Djavax.net.ssl.trustStorePassword=changeit")
    return run_with_hosts(site.hosts, ["mvn", "-B", "-s", str(settings), *args], env=env, cwd=project, timeout=300)


def test_mvn_deploys_and_resolves_over_https(site):
    require_client("mvn")
    require_debian_plugins()
    registry = f"{site.url('maven')}/alice/widgets"
    settings = write_settings(site.work / "settings.xml", site.work / "m2-deploy", "alice", site.token)
    library = write_project(site.work / "mvn-lib", group_id="com.example", artifact_id="kettle", version="1.0",
                            registry=registry)
    deployed = run_mvn_over_https(site, library, settings, "deploy")
    assert deployed.returncode == 0, deployed.output

    local = site.work / "m2-consume"
    consumer_settings = write_settings(site.work / "settings-consumer.xml", local, "alice", site.token)
    consumer = write_project(site.work / "mvn-app", group_id="com.example", artifact_id="app", version="1.0",
                             registry=registry, dependencies=[("com.example", "kettle", "1.0")])
    built = run_mvn_over_https(site, consumer, consumer_settings, "package")
    assert built.returncode == 0, built.output
    assert (local / "com/example/kettle/1.0/kettle-1.0.jar").read_bytes() == \
        (library / "target/kettle-1.0.jar").read_bytes()


def test_nuget_pushes_and_installs_over_https(site):
    exe = require_nuget()
    source = f"{site.url('nuget')}/alice/index.json"
    author = NuGet(exe, site.work / "nuget-author", source, site.token, user="alice", hosts_file=site.hosts)
    consumer = NuGet(exe, site.work / "nuget-consumer", source, site.token, user="alice", hosts_file=site.hosts)
    for client in (author, consumer):
        # mono trusts what is in its own store, not OpenSSL's variables.
        synced = subprocess.run(["cert-sync", "--user", str(site.ca.cert)], env=client.env, capture_output=True,
                                text=True, check=False)
        assert synced.returncode == 0, synced.stderr
    package = author.pack("Acme.Kettle", "1.0.0", repository_url="https://github.com/alice/widgets")
    pushed = author.run("push", str(package), "-Source", "appliance", "-ApiKey", site.token)
    assert pushed.returncode == 0, pushed.output

    installed = consumer.run("install", "Acme.Kettle", "-OutputDirectory", str(consumer.workdir / "out"),
                             "-Source", "appliance")
    assert installed.returncode == 0, installed.output
    assert (consumer.workdir / "out" / "Acme.Kettle.1.0.0" / "Acme.Kettle.1.0.0.nupkg").read_bytes() == \
        package.read_bytes()


@pytest.fixture(scope="module")
def dockerd(site):
    """One dockerd with an /etc/docker of its own (certs.d empty at first). It reaches nginx at [::1]:
    dockerd takes any registry whose address is in 127.0.0.0/8 for insecure (TLS unverified), so the
    usual 127.0.0.1 would test nothing of TLS."""
    require_client("dockerd")
    require_client(DOCKER)
    require_client("skopeo")
    if not site.cluster.proxy.ipv6:
        pytest.fail("dockerd's TLS needs nginx on [::1]: this machine has no IPv6 loopback")
    hosts = site.work / "dockerd-hosts"
    hosts.write_text(f"::1 docker.{HOSTNAME}\n")
    daemon = Dockerd(site.work / "dockerd", hosts, etc_docker=site.work / "etc-docker").start()
    try:
        yield daemon
    finally:
        daemon.stop()


def test_docker_logs_in_pushes_and_pulls_over_https_trusting_the_test_ca(site, dockerd):
    registry = f"docker.{HOSTNAME}:{site.cluster.proxy.port}"
    config = site.work / "docker-config"

    def docker(*args: str, input: str | None = None) -> RunResult:
        return dockerd.run(*args, config=config, input=input)

    def login() -> RunResult:
        return docker("login", registry, "-u", "alice", "--password-stdin", input=site.token)

    untrusted = login()
    assert untrusted.returncode != 0, untrusted.output
    assert "x509: certificate signed by unknown authority" in untrusted.output, untrusted.output
    certs = dockerd.etc_docker / "certs.d" / registry
    certs.mkdir(parents=True)
    shutil.copy(site.ca.cert, certs / "ca.crt")
    logged_in = login()
    assert logged_in.returncode == 0 and "Login Succeeded" in logged_in.output, logged_in.output

    image = build_runnable_image([{"hello": b"#!/bin/sh\necho hello\n"}, {"data/blob.bin": random_bytes(2_000_000)}])
    layout, archive = site.work / "docker-layout", site.work / "docker-image.tar"
    write_oci_layout(layout, "v1", image)
    name = f"{registry}/alice/widgets/server:1.0"
    made = subprocess.run(["skopeo", "copy", f"oci:{layout}:v1", f"docker-archive:{archive}:{name}"],
                          capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    loaded = docker("load", "-i", str(archive))
    assert loaded.returncode == 0, loaded.output

    pushed = docker("push", name)
    assert pushed.returncode == 0, pushed.output
    manifest_digest = pushed.output.split("digest: ")[1].split()[0]
    removed = docker("rmi", name)
    assert removed.returncode == 0, removed.output
    assert docker("images", "-aq").stdout.strip() == ""

    pulled = docker("pull", name)
    assert pulled.returncode == 0, pulled.output
    assert f"Digest: {manifest_digest}" in pulled.output
    inspected = docker("image", "inspect", "--format", "{{.Id}}", name)
    assert inspected.stdout.strip() == digest_of(image.blobs[0]), inspected.output  # the config's digest
    # The daemon came through nginx from [::1], as the fixture meant it to (a pull asks for the tag's
    # digest, then for the manifest by that digest).
    requests_seen = site.cluster.proxy.access_log.read_text().splitlines()
    assert any(line.startswith("::1 ") and f'"GET /v2/alice/widgets/server/manifests/{manifest_digest} ' in line
               for line in requests_seen)

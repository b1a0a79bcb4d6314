"""Cloud billing through the real clients: past the owner's spending limit, a publish of a private package is
refused by npm, gem and mvn with what is used and what is allowed, and nothing is stored; the limit counts
both storage and the monthly transfer that downloads of private packages send. Public packages are not
metered; raising the limit (with the CLI, the console's other face) lets the publish through."""
from __future__ import annotations

import pytest

from appliance.models.packages import Blob, Package
from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance
from tests.support.maven import maven_registry, require_debian_plugins, run_mvn, write_project, write_settings
from tests.support.npm import Npm
from tests.support.rubygems import RubyClients


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    for client in ("npm", "gem", "mvn"):
        require_client(client)
    require_debian_plugins()
    live = LiveAppliance(tmp_path_factory.mktemp("cloud") / "home")
    live.set("hostname", "127.0.0.1")
    live.set("subdomain_isolation", False)
    live.set("edition", "cloud")
    live.set("billing.included_storage_bytes", 100)  # less than any package
    live.set("billing.default_spending_limit_cents", 0)
    for owner in ("alice", "bob"):
        live.user(owner)
        live.repo(f"{owner}/private", "private")
        live.repo(f"{owner}/open", "public")
    live.start()
    yield live
    live.stop()


def stored(live) -> tuple[int, int]:
    with live.db():
        return Package.select().count(), Blob.select().count()


def npm_publish(live, workdir, owner: str, token: str, name: str, repository: str):
    npm = Npm(workdir, f"{live.origin}/_registry/npm/", owner, token)
    npm.write_package(name, "1.0.0", repository=repository)
    return npm.run("publish")


def refused_by_gem_and_mvn(live, tmp_path, owner: str, token: str, phrase: str) -> None:
    gems = RubyClients(tmp_path / "gems")
    gem = gems.build(f"{owner}-metered", "1.0.0", metadata={"github_repo": f"{owner}/private"})
    pushed = gems.push(gem, f"{live.origin}/_registry/rubygems/{owner}", token)
    assert pushed.returncode != 0 and phrase in pushed.output, pushed.output

    registry = maven_registry(live.origin, owner, "private")
    settings = write_settings(tmp_path / "settings.xml", tmp_path / "m2", owner, token)
    project = write_project(tmp_path / "mvn", group_id=f"com.{owner}", artifact_id="metered", version="1.0",
                            registry=registry)
    deployed = run_mvn(project, settings, "deploy")
    assert deployed.returncode != 0
    assert phrase in deployed.output, deployed.output[-3000:]


def test_npm_gem_and_mvn_are_refused_past_the_spending_limit(cloud, tmp_path):
    token = cloud.token("alice")
    before = stored(cloud)

    refused = npm_publish(cloud, tmp_path / "npm", "alice", token, "@alice/metered", "alice/private")
    assert refused.returncode != 0
    assert "the spending limit of alice is reached: private packages would use" in refused.output, refused.output
    assert "allowed: 100 bytes of storage" in refused.output and "nothing was stored" in refused.output

    refused_by_gem_and_mvn(cloud, tmp_path, "alice", token, "the spending limit of alice is reached")
    assert stored(cloud) == before  # nothing of the three publishes was kept

    # Public packages are not metered; a higher spending limit makes room for the private one.
    assert npm_publish(cloud, tmp_path / "open", "alice", token, "@alice/free", "alice/open").returncode == 0
    cloud.set("billing.default_spending_limit_cents", 100)
    again = npm_publish(cloud, tmp_path / "npm2", "alice", token, "@alice/metered", "alice/private")
    assert again.returncode == 0, again.output


def test_downloads_of_private_packages_count_against_the_limit(cloud, tmp_path):
    # Transfer so dear that a cent buys about a byte: one install of a private package spends bob's dollar,
    # while his storage (a few hundred bytes past the included 100, at 25 cents a GB) costs next to nothing.
    cloud.set("billing.included_transfer_bytes", 0)
    cloud.set("billing.transfer_cents_per_gb", 10**9)
    limited = cloud.cli("billing", "limit", "bob", "1")
    assert limited.returncode == 0 and limited.stdout == "bob's spending limit is $1.00 a month\n", limited.stderr
    token = cloud.token("bob")
    assert npm_publish(cloud, tmp_path / "first", "bob", token, "@bob/first", "bob/private").returncode == 0

    consumer = Npm(tmp_path / "consumer", f"{cloud.origin}/_registry/npm/", "bob", token)
    consumer.write_consumer()
    installed = consumer.run("install", "@bob/first")
    assert installed.returncode == 0 and consumer.installed_version("@bob/first") == "1.0.0", installed.output
    shown = cloud.cli("billing", "show", "bob").stdout
    assert "transfer\t0 bytes" not in shown and "limit\t$1.00\n" in shown, shown
    before = stored(cloud)

    refused = npm_publish(cloud, tmp_path / "second", "bob", token, "@bob/second", "bob/private")
    assert refused.returncode != 0
    output = refused.output
    assert "the spending limit of bob is reached: private packages would use" in output, output
    assert "bytes of transfer in " in output and "a spending limit of $1.00" in output, output
    assert "allowed: 100 bytes of storage at this transfer" in output, output  # the transfer took the dollar
    refused_by_gem_and_mvn(cloud, tmp_path, "bob", token, "the spending limit of bob is reached")
    assert stored(cloud) == before

    # Alice's limit and month are her own; bob's raised limit lets his publish through.
    assert npm_publish(cloud, tmp_path / "alice", "alice", cloud.token("alice"), "@alice/more",
                       "alice/private").returncode == 0
    assert cloud.cli("billing", "limit", "bob", "100").returncode == 0
    again = npm_publish(cloud, tmp_path / "again", "bob", token, "@bob/second", "bob/private")
    assert again.returncode == 0, again.output

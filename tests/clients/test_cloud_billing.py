"""Cloud billing through the real clients: past the owner's included storage and spending limit, a publish
of a private package is refused by npm, gem and mvn with what is used and what is allowed, and nothing is
stored; public packages are not metered; raising the limit lets the publish through."""
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
    live.user("alice")
    live.repo("alice/private", "private")
    live.repo("alice/open", "public")
    live.start()
    yield live
    live.stop()


def stored(live) -> tuple[int, int]:
    with live.db():
        return Package.select().count(), Blob.select().count()


def npm_publish(live, workdir, token: str, name: str, repository: str):
    npm = Npm(workdir, f"{live.origin}/_registry/npm/", "alice", token)
    npm.write_package(name, "1.0.0", repository=repository)
    return npm.run("publish")


def test_npm_gem_and_mvn_are_refused_past_the_spending_limit(cloud, tmp_path):
    token = cloud.token("alice")
    before = stored(cloud)

    refused = npm_publish(cloud, tmp_path / "npm", token, "@alice/metered", "alice/private")
    assert refused.returncode != 0
    assert "the spending limit of alice is reached: private packages would use" in refused.output, refused.output
    assert "allowed: 0.0 MB" in refused.output and "nothing was stored" in refused.output

    gems = RubyClients(tmp_path / "gems")
    gem = gems.build("metered", "1.0.0", metadata={"github_repo": "alice/private"})
    pushed = gems.push(gem, f"{cloud.origin}/_registry/rubygems/alice", token)
    assert pushed.returncode != 0 and "the spending limit of alice is reached" in pushed.output, pushed.output

    registry = maven_registry(cloud.origin, "alice", "private")
    settings = write_settings(tmp_path / "settings.xml", tmp_path / "m2", "alice", token)
    project = write_project(tmp_path / "mvn", group_id="com.acme", artifact_id="metered", version="1.0",
                            registry=registry)
    deployed = run_mvn(project, settings, "deploy")
    assert deployed.returncode != 0
    assert "the spending limit of alice is reached" in deployed.output, deployed.output[-3000:]
    assert stored(cloud) == before  # nothing of the three publishes was kept

    # Public packages are not metered; a higher spending limit makes room for the private one.
    assert npm_publish(cloud, tmp_path / "open", token, "@alice/free", "alice/open").returncode == 0
    cloud.set("billing.default_spending_limit_cents", 100)
    again = npm_publish(cloud, tmp_path / "npm2", token, "@alice/metered", "alice/private")
    assert again.returncode == 0, again.output

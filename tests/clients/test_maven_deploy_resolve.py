"""`mvn deploy` of a release and of SNAPSHOT builds, then a second project whose build resolves them from
the appliance into a fresh local repository, with the real mvn and Debian's packaged plugins."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile

import pytest
import requests

from appliance.models.packages import Package, PackageVersion
from tests.clients.conftest import require_client
from tests.support.maven import maven_registry, require_debian_plugins, run_mvn, write_project, write_settings
from tests.support.maven_http import footprint


@pytest.fixture(scope="module", autouse=True)
def _mvn_installed():
    require_client("mvn")
    require_debian_plugins()


@pytest.fixture(scope="module")
def alice(live):
    live.user("alice")
    live.repo("alice/libs")
    return live.token("alice")


GREETER = """package com.example.greeter;

public class Greeter {
    public static String greet(String name) { return "%s, " + name; }
}
"""

CONSUMER = """package com.example.app;

import com.example.greeter.Greeter;

public class App {
    public static void main(String[] args) { System.out.println(Greeter.greet("world")); }
}
"""


def deploy_greeter(live, token, tmp_path, version: str, greeting: str, name: str = "lib"):
    registry = maven_registry(live.origin, "alice", "libs")
    settings = write_settings(tmp_path / f"settings-{name}.xml", tmp_path / f"m2-{name}", "alice", token)
    project = write_project(
        tmp_path / name,
        group_id="com.example",
        artifact_id="greeter",
        version=version,
        registry=registry,
        java_class="com.example.greeter.Greeter",
        java_source=GREETER % greeting,
        description="Says hello politely",
    )
    return run_mvn(project, settings, "deploy"), project


def consume(live, token, tmp_path, version: str, name: str):
    """A second project that depends on greeter `version`, built with a local repository of its own."""
    registry = maven_registry(live.origin, "alice", "libs")
    local = tmp_path / f"m2-{name}"
    settings = write_settings(tmp_path / f"settings-{name}.xml", local, "alice", token)
    project = write_project(
        tmp_path / name,
        group_id="com.example",
        artifact_id="app",
        version="1.0",
        registry=registry,
        java_class="com.example.app.App",
        java_source=CONSUMER,
        dependencies=[("com.example", "greeter", version)],
    )
    return run_mvn(project, settings, "package"), project, local


def test_release_deploy_then_resolve_in_a_second_project(live, alice, tmp_path):
    deployed, project = deploy_greeter(live, alice, tmp_path, "1.0", "Hello")
    assert deployed.returncode == 0, deployed.output
    assert "BUILD SUCCESS" in deployed.stdout

    built, consumer, local = consume(live, alice, tmp_path, "1.0", "app")
    assert built.returncode == 0, built.output
    assert "Downloaded from appliance" in built.stdout
    assert (consumer / "target/classes/com/example/app/App.class").is_file()
    fetched = local / "com/example/greeter/1.0/greeter-1.0.jar"
    assert fetched.read_bytes() == (project / "target/greeter-1.0.jar").read_bytes()
    with zipfile.ZipFile(fetched) as jar:
        assert "com/example/greeter/Greeter.class" in jar.namelist()
    # mvn checked the .sha1 the appliance answered against the bytes it got.
    sha1 = (local / "com/example/greeter/1.0/greeter-1.0.jar.sha1").read_text().split()[0]
    assert sha1 == hashlib.sha1(fetched.read_bytes()).hexdigest()

    with live.db():
        package = Package.get((Package.format == "maven") & (Package.name == "com.example:greeter"))
        assert package.repository.full_name == "alice/libs"
        version = PackageVersion.get(
            (PackageVersion.package == package.id) & (PackageVersion.version == "1.0")
        )
        meta = json.loads(version.metadata)
    assert version.summary == "Says hello politely"
    assert version.license == "Apache-2.0"
    assert meta["url"] == "https://example.com/greeter"
    assert meta["licenses"] == [{"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}]

    document = requests.get(
        f"{maven_registry(live.origin, 'alice', 'libs')}/com/example/greeter/maven-metadata.xml",
        auth=("alice", alice),
        timeout=10,
    ).text
    assert "<release>1.0</release>" in document
    assert "<version>1.0</version>" in document


def test_redeploying_a_release_is_refused_with_a_message_mvn_prints(live, alice, tmp_path):
    first, _ = deploy_greeter(live, alice, tmp_path, "2.0", "Hi", name="first")
    assert first.returncode == 0, first.output
    again, _ = deploy_greeter(live, alice, tmp_path, "2.0", "Changed", name="again")
    assert again.returncode != 0
    assert "409" in again.output
    assert "greeter-2.0.pom already exists in com.example:greeter 2.0" in again.output
    assert "publish a new version" in again.output


def test_snapshot_builds_deploy_and_resolve_the_newest(live, alice, tmp_path):
    first, _ = deploy_greeter(live, alice, tmp_path, "3.0-SNAPSHOT", "First", name="snap1")
    assert first.returncode == 0, first.output
    second, project = deploy_greeter(live, alice, tmp_path, "3.0-SNAPSHOT", "Second", name="snap2")
    assert second.returncode == 0, second.output
    uploaded = re.findall(
        r"Uploaded to appliance: \S+/greeter-3\.0-(\d{8}\.\d{6})-(\d+)\.jar ", second.stdout
    )
    assert [build for _, build in uploaded] == ["2"], second.stdout

    registry = maven_registry(live.origin, "alice", "libs")
    document = requests.get(
        f"{registry}/com/example/greeter/3.0-SNAPSHOT/maven-metadata.xml", auth=("alice", alice), timeout=10
    ).text
    assert "<buildNumber>2</buildNumber>" in document
    assert f"<value>3.0-{uploaded[0][0]}-2</value>" in document

    built, _, local = consume(live, alice, tmp_path, "3.0-SNAPSHOT", "snapapp")
    assert built.returncode == 0, built.output
    fetched = next((local / "com/example/greeter/3.0-SNAPSHOT").glob("greeter-3.0-*-2.jar"))
    assert fetched.read_bytes() == (project / "target/greeter-3.0-SNAPSHOT.jar").read_bytes()


def test_deploy_without_a_token_fails_with_the_hint(live, alice, tmp_path):
    registry = maven_registry(live.origin, "alice", "libs")
    settings = write_settings(tmp_path / "settings.xml", tmp_path / "m2", None, None)
    project = write_project(
        tmp_path / "anon", group_id="com.example", artifact_id="anon", version="1.0", registry=registry
    )
    result = run_mvn(project, settings, "deploy")
    assert result.returncode != 0
    assert "401" in result.output
    assert "authentication required" in result.output
    with live.db():
        assert not Package.select().where(Package.name == "com.example:anon").exists()


def test_deploy_with_a_read_only_token_names_the_missing_scope(live, alice, tmp_path):
    reader = live.token("alice", "read:packages")
    result, _ = deploy_greeter(live, reader, tmp_path, "4.0", "Read only", name="readonly")
    assert result.returncode != 0
    assert "status: 403 this token lacks the scope for this: it needs write:packages" in result.output
    with live.db():
        assert not PackageVersion.select().where(PackageVersion.version == "4.0").exists()


def test_deploy_of_a_jar_over_the_limit_is_refused_and_stores_nothing(live, alice, tmp_path):
    live.set("max_upload_bytes", 2500)
    try:
        with live.db():
            before = footprint(live.bootstrap.storage_path)
        result, project = deploy_greeter(live, alice, tmp_path, "5.0", "Big" * 2000, name="big")
        assert (project / "target/greeter-5.0.jar").stat().st_size > 2500
        assert result.returncode != 0
        assert "status: 413" in result.output
        assert "this appliance accepts up to 2500" in result.output
        with live.db():
            # The pom (small) went in before the jar; the jar left no blob, upload or row behind.
            files = footprint(live.bootstrap.storage_path)
            version = PackageVersion.get(PackageVersion.version == "5.0")
            assert [f.name for f in version.files] == ["greeter-5.0.pom"]
        assert len(files.files) == len(before.files) + 1
        assert not any(name.startswith("uploads/") for name in files.files)
    finally:
        live.set("max_upload_bytes", 2 * 1024**3)

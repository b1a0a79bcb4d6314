"""`appliance backup create` while npm keeps publishing, `restore` into a fresh home, and the real npm,
gem and mvn install every package from the restored appliance with the bytes that were published."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from appliance.settings import Bootstrap
from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance
from tests.support.maven import maven_registry, require_debian_plugins, run_mvn, write_project, write_settings
from tests.support.npm import Npm
from tests.support.rubygems import RubyClients

CONCURRENT_VERSIONS = [f"1.0.{n}" for n in range(1, 7)]

GREETER = """package com.example.greeter;

public class Greeter {
    public static String greet(String name) { return "Hello, " + name; }
}
"""


@pytest.fixture(scope="module", autouse=True)
def _clients_installed():
    for command in ("npm", "gem", "mvn"):
        require_client(command)
    require_debian_plugins()


def appliance(home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *args], env=dict(os.environ, APPLIANCE_HOME=str(home)),
                          capture_output=True, text=True, timeout=600, check=False)


def npm_registry(live) -> str:
    return f"{live.origin}/_registry/npm/"


def pack_and_publish(npm: Npm, version: str) -> bytes:
    """npm pack, then npm publish of that tarball: the bytes the registry must give back."""
    npm.write_package("@alice/hello", version, description="says hello", license="MIT")
    packed = npm.run("pack")
    assert packed.returncode == 0, packed.output
    tarball = npm.workdir / f"alice-hello-{version}.tgz"
    content = tarball.read_bytes()
    tarball.rename(npm.workdir.parent / tarball.name)  # out of the next pack's way
    published = npm.run("publish", str(npm.workdir.parent / tarball.name))
    assert published.returncode == 0, published.output
    return content


def test_backup_while_publishing_then_restore_and_install_with_npm_gem_and_mvn(live, tmp_path):
    live.user("alice")
    for repository in ("alice/hello", "alice/greeting", "alice/libs"):
        live.repo(repository)
    token = live.token("alice")

    author = Npm(tmp_path / "npm-author" / "project", npm_registry(live), "alice", token)
    published = {"1.0.0": pack_and_publish(author, "1.0.0")}

    ruby = RubyClients(tmp_path / "ruby")
    gem = ruby.build("greeting", "1.0.0", metadata={"github_repo": "https://github.com/alice/greeting"})
    pushed = ruby.push(gem, f"{live.origin}/_registry/rubygems/alice", token)
    assert pushed.returncode == 0, pushed.output

    maven = maven_registry(live.origin, "alice", "libs")
    library = write_project(tmp_path / "greeter", group_id="com.example", artifact_id="greeter", version="1.0",
                            registry=maven, java_class="com.example.greeter.Greeter", java_source=GREETER)
    deployed = run_mvn(library, write_settings(tmp_path / "settings.xml", tmp_path / "m2", "alice", token), "deploy")
    assert deployed.returncode == 0, deployed.output

    # npm keeps publishing while the backup runs: the snapshot holds some of these, consistently.
    first_concurrent = threading.Event()
    publisher_errors = []

    def keep_publishing():
        try:
            for version in CONCURRENT_VERSIONS:
                published[version] = pack_and_publish(author, version)
                first_concurrent.set()
        except (AssertionError, subprocess.SubprocessError) as e:  # reported by the test below
            publisher_errors.append(e)
            first_concurrent.set()

    publisher = threading.Thread(target=keep_publishing)
    publisher.start()
    first_concurrent.wait(timeout=120)
    backups = tmp_path / "backups"
    created = appliance(live.home, "backup", "create", str(backups))
    publisher.join()
    assert not publisher_errors, publisher_errors
    assert created.returncode == 0, created.stderr
    verified = appliance(live.home, "backup", "verify", str(backups))
    assert verified.returncode == 0, verified.stderr

    fresh = tmp_path / "restored"
    restored = appliance(fresh, "backup", "restore", str(backups))
    assert restored.returncode == 0, restored.stderr
    again = appliance(fresh, "backup", "restore", str(backups))
    assert again.returncode == 1 and "is not empty" in again.stderr

    copy = LiveAppliance(fresh, bootstrap=Bootstrap.load(fresh))
    copy.start()
    try:
        # npm: every version the snapshot holds, byte for byte, and an install of the first.
        consumer = Npm(tmp_path / "npm-consumer" / "project", npm_registry(copy), "alice", token)
        consumer.write_consumer()
        shown = consumer.run("view", "@alice/hello", "versions", "--json")
        assert shown.returncode == 0, shown.output
        versions = json.loads(shown.stdout)
        versions = [versions] if isinstance(versions, str) else versions
        assert versions[0] == "1.0.0" and set(versions) <= set(published)
        for version in versions:
            packed = consumer.run("pack", f"@alice/hello@{version}")
            assert packed.returncode == 0, packed.output
            tarball = consumer.workdir / f"alice-hello-{version}.tgz"
            assert tarball.read_bytes() == published[version], version
        installed = consumer.run("install", "@alice/hello@1.0.0")
        assert installed.returncode == 0, installed.output
        assert consumer.installed_version("@alice/hello") == "1.0.0"

        # gem: installed from the restored appliance, the .gem it cached is the one pushed.
        gems = RubyClients(tmp_path / "ruby-consumer")
        source = f"http://alice:{token}@127.0.0.1:{copy.port}/_registry/rubygems/alice/"
        done = gems.install("greeting", source)
        assert done.returncode == 0, done.output
        assert (gems.gem_home / "cache" / "greeting-1.0.0.gem").read_bytes() == gem.read_bytes()

        # mvn: a project depending on greeter 1.0 resolves it into a fresh local repository.
        local = tmp_path / "m2-consumer"
        app = write_project(tmp_path / "app", group_id="com.example", artifact_id="app", version="1.0",
                            registry=maven_registry(copy.origin, "alice", "libs"),
                            dependencies=[("com.example", "greeter", "1.0")])
        built = run_mvn(app, write_settings(tmp_path / "settings-consumer.xml", local, "alice", token),
                        "compile", local_repository=local)
        assert built.returncode == 0, built.output
        resolved = local / "com" / "example" / "greeter" / "1.0" / "greeter-1.0.jar"
        assert resolved.read_bytes() == (library / "target" / "greeter-1.0.jar").read_bytes()
    finally:
        copy.stop()

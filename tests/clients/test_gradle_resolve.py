"""A Gradle build resolves a jar deployed with the real mvn from the appliance (Debian's gradle 4.4.1,
which can resolve but not publish here: Gradle's publish requests are covered over HTTP in
tests/clients/test_maven_http.py)."""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.clients.conftest import require_client
from tests.support.maven import (
    maven_registry,
    require_debian_plugins,
    run_gradle,
    run_mvn,
    write_gradle_project,
    write_project,
    write_settings,
)
from tests.support.maven_http import jar_bytes, pom_bytes


@pytest.fixture(scope="module", autouse=True)
def _clients_installed():
    require_client("mvn")
    require_debian_plugins()
    require_client("gradle")


@pytest.fixture(scope="module")
def deployed(live, tmp_path_factory):
    """com.example:shapes 1.0 deployed by mvn to the private repository bob/shapes."""
    live.user("bob")
    live.repo("bob/shapes", "private")
    token = live.token("bob")
    work = tmp_path_factory.mktemp("shapes")
    registry = maven_registry(live.origin, "bob", "shapes")
    project = write_project(
        work / "shapes",
        group_id="com.example",
        artifact_id="shapes",
        version="1.0",
        registry=registry,
        java_class="com.example.shapes.Square",
        java_source="package com.example.shapes;\npublic class Square { public static int area(int s) { return s * s; } }\n",
    )
    result = run_mvn(project, write_settings(work / "settings.xml", work / "m2", "bob", token), "deploy")
    assert result.returncode == 0, result.output
    return registry, token, (project / "target/shapes-1.0.jar").read_bytes()


MAIN = """package consumer;

public class Main {
    public static void main(String[] args) { System.out.println(com.example.shapes.Square.area(4)); }
}
"""


def test_gradle_resolves_and_compiles_against_the_jar(deployed, tmp_path):
    registry, token, jar = deployed
    project = write_gradle_project(
        tmp_path / "consumer",
        registry=registry,
        username="bob",
        token=token,
        dependencies=["com.example:shapes:1.0"],
        main_source=MAIN,
    )
    result = run_gradle(project, tmp_path / "gradle-home", "build", "copyDeps")
    assert result.returncode == 0, result.output
    assert (project / "build/classes/java/main/consumer/Main.class").is_file()
    assert (project / "build/deps/shapes-1.0.jar").read_bytes() == jar
    cached = list((tmp_path / "gradle-home").rglob("shapes-1.0.jar"))
    assert cached and hashlib.sha256(cached[0].read_bytes()).hexdigest() == hashlib.sha256(jar).hexdigest()


def test_gradle_without_credentials_is_told_to_authenticate(deployed, tmp_path):
    registry, _, _ = deployed
    project = write_gradle_project(
        tmp_path / "anonymous",
        registry=registry,
        username="",
        token=None,
        dependencies=["com.example:shapes:1.0"],
    )
    result = run_gradle(project, tmp_path / "gradle-home", "copyDeps")
    assert result.returncode != 0
    assert "Received status code 401 from server: authentication required" in result.output


def put_version(registry: str, token: str, version: str, jar: bytes, stamp: str | None = None) -> None:
    """pom and jar of com.example:shapes `version`; for a SNAPSHOT, under the timestamped build `stamp`."""
    directory = f"{registry}/com/example/shapes/{version}"
    file_version = version.replace("SNAPSHOT", stamp) if stamp else version
    for name, data in (
        (f"shapes-{file_version}.pom", pom_bytes("com.example", "shapes", version)),
        (f"shapes-{file_version}.jar", jar),
    ):
        response = requests.put(f"{directory}/{name}", data=data, auth=("bob", token), timeout=10)
        assert response.status_code == 201, response.reason


def test_gradle_resolves_a_dynamic_version_from_the_generated_metadata(deployed, tmp_path):
    registry, token, _ = deployed
    newer = jar_bytes("shapes-1.1")
    put_version(registry, token, "1.1", newer)
    put_version(registry, token, "1.10-rc1", jar_bytes("shapes-1.10-rc1"))
    project = write_gradle_project(
        tmp_path / "dynamic",
        registry=registry,
        username="bob",
        token=token,
        dependencies=["com.example:shapes:1.1+"],
    )
    result = run_gradle(project, tmp_path / "gradle-home", "copyDeps")
    assert result.returncode == 0, result.output
    assert [p.name for p in (project / "build/deps").iterdir()] == ["shapes-1.10-rc1.jar"]


def test_gradle_resolves_the_newest_snapshot_build(deployed, tmp_path):
    registry, token, _ = deployed
    put_version(registry, token, "2.0-SNAPSHOT", jar_bytes("build 1"), stamp="20240101.101010-1")
    put_version(registry, token, "2.0-SNAPSHOT", jar_bytes("build 2"), stamp="20240102.101010-2")
    project = write_gradle_project(
        tmp_path / "snapshot",
        registry=registry,
        username="bob",
        token=token,
        dependencies=["com.example:shapes:2.0-SNAPSHOT"],
    )
    result = run_gradle(project, tmp_path / "gradle-home", "copyDeps")
    assert result.returncode == 0, result.output
    assert (project / "build/deps/shapes-2.0-SNAPSHOT.jar").read_bytes() == jar_bytes("build 2")

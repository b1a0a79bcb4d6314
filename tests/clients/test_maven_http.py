"""What goes over the wire through gunicorn: the requests a current Gradle's `publish` sends (Debian's
gradle 4.4.1 cannot publish: "No transporter factories registered"), then the real gradle resolving
what they published; the reason phrase mvn and gradle print; a chunked upload over the limit."""

from __future__ import annotations

import base64
import http.client

import pytest
import requests

from appliance.models import Package
from tests.clients.conftest import require_client
from tests.support.maven import maven_registry, run_gradle, write_gradle_project
from tests.support.maven_http import ALGORITHMS, digest, footprint, jar_bytes, module_bytes, pom_bytes


@pytest.fixture(scope="module")
def carol(live):
    live.user("carol")
    live.repo("carol/tools", "internal")
    return live.token("carol")


def registry(live) -> str:
    return maven_registry(live.origin, "carol", "tools")


def gradle_publish(
    live, token: str, group: str, artifact: str, version: str, jar: bytes
) -> list[tuple[str, int]]:
    """The requests of Gradle's maven-publish task, in its order, with HTTP Basic as Gradle sends it."""
    base = f"{registry(live)}/{group.replace('.', '/')}/{artifact}"
    files = {
        f"{artifact}-{version}.jar": jar,
        f"{artifact}-{version}.pom": pom_bytes(group, artifact, version, description="published by gradle"),
        f"{artifact}-{version}.module": module_bytes(group, artifact, version),
    }
    auth = ("carol", token)
    seen = []
    with requests.Session() as session:
        for name, data in files.items():
            seen.append(
                (name, session.put(f"{base}/{version}/{name}", data=data, auth=auth, timeout=10).status_code)
            )
            for algorithm in ALGORITHMS:
                response = session.put(
                    f"{base}/{version}/{name}.{algorithm}",
                    data=digest(data, algorithm),
                    auth=auth,
                    timeout=10,
                )
                seen.append((f"{name}.{algorithm}", response.status_code))
        seen.append(
            (
                "GET maven-metadata.xml",
                session.get(f"{base}/maven-metadata.xml", auth=auth, timeout=10).status_code,
            )
        )
        client_metadata = f"<metadata><version>{version}</version></metadata>".encode()
        seen.append(
            (
                "maven-metadata.xml",
                session.put(
                    f"{base}/maven-metadata.xml", data=client_metadata, auth=auth, timeout=10
                ).status_code,
            )
        )
        for algorithm in ALGORITHMS:
            response = session.put(
                f"{base}/maven-metadata.xml.{algorithm}",
                data=digest(client_metadata, algorithm),
                auth=auth,
                timeout=10,
            )
            seen.append((f"maven-metadata.xml.{algorithm}", response.status_code))
    return seen


def test_gradle_publish_requests_then_the_real_gradle_resolves_them(live, carol, tmp_path):
    jar = jar_bytes("gradle-published")
    seen = gradle_publish(live, carol, "org.tools", "hammer", "0.3.0", jar)
    assert seen[15] == ("GET maven-metadata.xml", 200)
    assert {status for name, status in seen if not name.startswith("GET")} == {201}, seen

    require_client("gradle")
    project = write_gradle_project(
        tmp_path / "consumer",
        registry=registry(live),
        username="carol",
        token=carol,
        dependencies=["org.tools:hammer:0.3.0"],
    )
    result = run_gradle(project, tmp_path / "gradle-home", "copyDeps")
    assert result.returncode == 0, result.output
    assert (project / "build/deps/hammer-0.3.0.jar").read_bytes() == jar


def test_the_message_is_the_reason_phrase_on_the_wire(live, carol):
    gradle_publish(live, carol, "org.tools", "saw", "1.0", jar_bytes("saw"))
    origin = live.origin.removeprefix("http://")
    connection = http.client.HTTPConnection(origin, timeout=10)
    path = "/_registry/maven/carol/tools/org/tools/saw/1.0/saw-1.0.jar"
    credentials = base64.b64encode(f"carol:{carol}".encode()).decode()
    connection.request("PUT", path, body=b"other bytes", headers={"Authorization": f"Basic {credentials}"})
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    assert response.status == 409
    assert response.reason == (
        "saw-1.0.jar already exists in org.tools:saw 1.0, and files of a published version "
        "cannot be replaced: publish a new version"
    )
    assert body.strip() == response.reason


def test_a_chunked_upload_over_the_limit_stores_nothing(live, carol):
    live.set("max_upload_bytes", 64 * 1024)
    try:
        with live.db():
            before = footprint(live.bootstrap.storage_path)

        def chunks():
            for _ in range(32):
                yield b"z" * 8192

        response = requests.put(
            f"{registry(live)}/org/tools/big/1.0/big-1.0.jar",
            data=chunks(),
            auth=("carol", carol),
            timeout=30,
        )
        assert response.status_code == 413
        assert "larger than this appliance accepts (65536 bytes)" in response.reason
        with live.db():
            assert footprint(live.bootstrap.storage_path) == before
            assert not Package.select().where(Package.name == "org.tools:big").exists()
    finally:
        live.set("max_upload_bytes", 2 * 1024**3)

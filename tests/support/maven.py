"""Running the real mvn and gradle against a live appliance, offline but for the appliance: Debian's
packaged Maven plugins stand in for Maven Central through a file:// mirror."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

DEBIAN_MAVEN_REPO = "file:///usr/share/maven-repo"
# What a jar project's build and deploy need from Debian's packaged plugins.
DEBIAN_PLUGINS = (
    "maven-compiler-plugin",
    "maven-resources-plugin",
    "maven-jar-plugin",
    "maven-install-plugin",
    "maven-deploy-plugin",
)
SERVER_ID = "appliance"
# Plugin versions of Debian's packages; mvn picks them from its super-POM defaults otherwise.
COMPILER_RELEASE = "17"


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def missing_debian_plugins() -> list[str]:
    plugins = Path(DEBIAN_MAVEN_REPO.removeprefix("file://")) / "org/apache/maven/plugins"
    return [name for name in DEBIAN_PLUGINS if not (plugins / name).is_dir()]


def maven_registry(origin: str, owner: str, repository: str) -> str:
    return f"{origin}/_registry/maven/{owner}/{repository}"


def write_settings(path: Path, local_repository: Path, username: str | None, token: str | None) -> Path:
    """A settings.xml of its own: Debian's plugins as the central mirror, the appliance's credentials."""
    server = ""
    if token is not None:
        server = (
            f"<servers><server><id>{SERVER_ID}</id><username>{escape(username or 'token')}</username>"
            f"<password>{escape(token)}</password></server></servers>"
        )
    path.write_text(
        "<settings>\n"
        f"  <localRepository>{escape(str(local_repository))}</localRepository>\n"
        "  <interactiveMode>false</interactiveMode>\n"
        f"  <mirrors><mirror><id>debian</id><mirrorOf>central</mirrorOf><url>{DEBIAN_MAVEN_REPO}</url></mirror>"
        "</mirrors>\n"
        f"  {server}\n"
        "</settings>\n"
    )
    return path


def _dependency_xml(dependencies: list[tuple[str, str, str]]) -> str:
    if not dependencies:
        return ""
    items = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in dependencies
    )
    return f"<dependencies>{items}</dependencies>"


def write_project(
    directory: Path,
    *,
    group_id: str,
    artifact_id: str,
    version: str,
    registry: str,
    java_class: str | None = None,
    java_source: str | None = None,
    dependencies: list[tuple[str, str, str]] = (),
    description: str = "",
    extra: str = "",
) -> Path:
    """A small jar project whose distributionManagement and repositories point at the appliance."""
    directory.mkdir(parents=True, exist_ok=True)
    pom = f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{group_id}</groupId>
  <artifactId>{artifact_id}</artifactId>
  <version>{version}</version>
  <packaging>jar</packaging>
  <name>{artifact_id}</name>
  <description>{escape(description)}</description>
  <url>https://example.com/{artifact_id}</url>
  <licenses><license><name>Apache-2.0</name><url>https://www.apache.org/licenses/LICENSE-2.0</url></license></licenses>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.compiler.release>{COMPILER_RELEASE}</maven.compiler.release>
  </properties>
  {_dependency_xml(list(dependencies))}
  <repositories>
    <repository><id>{SERVER_ID}</id><url>{registry}</url>
      <snapshots><enabled>true</enabled><updatePolicy>always</updatePolicy></snapshots></repository>
  </repositories>
  <distributionManagement>
    <repository><id>{SERVER_ID}</id><url>{registry}</url></repository>
    <snapshotRepository><id>{SERVER_ID}</id><url>{registry}</url></snapshotRepository>
  </distributionManagement>
  <build><plugins>
    <!-- Debian packages no surefire of the super-POM's version, and these projects have no tests. -->
    <plugin><artifactId>maven-surefire-plugin</artifactId>
      <executions><execution><id>default-test</id><phase>none</phase></execution></executions></plugin>
  </plugins></build>
  {extra}
</project>
"""
    (directory / "pom.xml").write_text(pom)
    if java_class and java_source:
        package_dir = directory / "src/main/java" / Path(*java_class.split(".")[:-1])
        package_dir.mkdir(parents=True, exist_ok=True)
        (package_dir / f"{java_class.rsplit('.', 1)[-1]}.java").write_text(java_source)
    return directory


def run_mvn(
    project: Path, settings: Path, *args: str, local_repository: Path | None = None, timeout: int = 300
) -> RunResult:
    command = ["mvn", "-B", "-s", str(settings), *args]
    if local_repository is not None:
        command.append(f"-Dmaven.repo.local={local_repository}")
    completed = subprocess.run(
        command,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=dict(os.environ, MAVEN_OPTS="-Xmx512m"),
    )
    return RunResult(completed.returncode, completed.stdout, completed.stderr)


def write_gradle_project(
    directory: Path,
    *,
    registry: str,
    username: str,
    token: str | None,
    dependencies: list[str],
    main_source: str | None = None,
) -> Path:
    """A java project that resolves `dependencies` (group:artifact:version) from the appliance only."""
    directory.mkdir(parents=True, exist_ok=True)
    credentials = ""
    if token is not None:
        credentials = f"credentials {{ username '{username}'; password '{token}' }}"
    deps = "\n".join(f"    compile '{d}'" for d in dependencies)
    (directory / "settings.gradle").write_text("rootProject.name = 'consumer'\n")
    (directory / "build.gradle").write_text(f"""
apply plugin: 'java'
sourceCompatibility = 1.8
targetCompatibility = 1.8
repositories {{
    maven {{
        url '{registry}'
        {credentials}
    }}
}}
dependencies {{
{deps}
}}
task copyDeps(type: Copy) {{
    from configurations.compile
    into "$buildDir/deps"
}}
""")
    if main_source:
        source = directory / "src/main/java/consumer/Main.java"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(main_source)
    return directory


def run_gradle(project: Path, gradle_home: Path, *args: str, timeout: int = 300) -> RunResult:
    command = ["gradle", "--no-daemon", "-q", "-g", str(gradle_home), *args]
    completed = subprocess.run(
        command,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=dict(os.environ, GRADLE_OPTS="-Xmx512m"),
    )
    return RunResult(completed.returncode, completed.stdout, completed.stderr)


def require_debian_plugins() -> None:
    """mvn builds offline with Debian's plugins; on CI a missing one fails the run instead of skipping."""
    missing = missing_debian_plugins()
    if missing:
        message = f"Debian's Maven plugins are missing ({', '.join(missing)}): scripts/install-test-deps.sh installs them"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

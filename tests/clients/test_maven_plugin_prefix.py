"""`mvn PREFIX:goal` finds a plugin deployed to the appliance through the group-level maven-metadata.xml
the appliance generates (prefix to artifactId), with the real mvn and nothing but the appliance and
Debian's packaged plugins to resolve from."""
from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

import pytest
import requests

from tests.clients.conftest import require_client
from tests.support.maven import DEBIAN_MAVEN_REPO, SERVER_ID, maven_registry, require_debian_plugins, run_mvn
from tests.support.maven_http import basic

GROUP = "org.acme.plugins"
PLUGIN_XML = """<plugin><name>Lint</name><groupId>org.acme.plugins</groupId><artifactId>maven-lint-plugin</artifactId>
<version>1.0</version><goalPrefix>lint</goalPrefix><mojos><mojo><goal>hello</goal>
<implementation>org.acme.plugins.Hello</implementation><language>java</language>
<requiresProject>false</requiresProject></mojo></mojos><dependencies/></plugin>"""
POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>org.acme.plugins</groupId><artifactId>maven-lint-plugin</artifactId><version>1.0</version>
<packaging>maven-plugin</packaging><name>Lint</name></project>"""


@pytest.fixture(scope="module", autouse=True)
def _mvn_installed():
    require_client("mvn")
    require_debian_plugins()


def plugin_jar() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as jar:
        jar.writestr("META-INF/maven/plugin.xml", PLUGIN_XML)
    return buffer.getvalue()


def test_a_plugin_prefix_resolves_through_the_group_metadata(live, tmp_path):
    live.user("alice")
    live.repo("alice/plugins", "private")
    token = live.token("alice")
    registry = maven_registry(live.origin, "alice", "plugins")
    base = f"{registry}/org/acme/plugins/maven-lint-plugin/1.0/maven-lint-plugin-1.0"
    for suffix, body in ((".pom", POM.encode()), (".jar", plugin_jar())):
        response = requests.put(base + suffix, data=body, headers=basic("alice", token), timeout=30)
        assert response.status_code == 201, response.text

    settings = tmp_path / "settings.xml"
    settings.write_text(
        f"<settings><localRepository>{escape(str(tmp_path / 'm2'))}</localRepository>"
        f"<pluginGroups><pluginGroup>{GROUP}</pluginGroup></pluginGroups>"
        f"<mirrors><mirror><id>debian</id><mirrorOf>central</mirrorOf><url>{DEBIAN_MAVEN_REPO}</url></mirror></mirrors>"
        f"<servers><server><id>{SERVER_ID}</id><username>alice</username><password>{escape(token)}</password>"
        "</server></servers><profiles><profile><id>appliance</id><pluginRepositories><pluginRepository>"
        f"<id>{SERVER_ID}</id><url>{escape(registry)}</url></pluginRepository></pluginRepositories></profile>"
        "</profiles><activeProfiles><activeProfile>appliance</activeProfile></activeProfiles></settings>")
    project = tmp_path / "empty"
    project.mkdir()

    result = run_mvn(project, settings, "lint:nosuch")
    # Found by its prefix (the group's metadata), its version from the artifact's metadata, its
    # descriptor from the jar: what is left is the goal it does not have.
    assert "Could not find goal 'nosuch' in plugin org.acme.plugins:maven-lint-plugin:1.0 among available " \
           "goals hello" in result.output, result.output
    assert (tmp_path / "m2" / "org/acme/plugins/maven-metadata-appliance.xml").exists()

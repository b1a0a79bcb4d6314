"""What people and tools read of a Maven repository besides artifacts: HTML directory listings under
the repository's paths, and the group-level maven-metadata.xml that maps plugin prefixes to plugins."""
from __future__ import annotations

import hashlib
import re

from appliance.accounts.service import create_repository, find_account
from tests.support.maven_http import pom_bytes


def plugin_pom(group: str, artifact: str, version: str, name: str) -> bytes:
    return pom_bytes(group, artifact, version, name=name).replace(
        b"<name>", b"<packaging>maven-plugin</packaging><name>", 1)


def links(response) -> list[str]:
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/html"
    return re.findall(r'<a href="([^"]*)"', response.get_data(as_text=True))


def test_directories_list_groups_artifacts_versions_and_files(registry):
    registry.put("com/acme/lib/1.0/lib-1.0.pom", pom_bytes("com.acme", "lib", "1.0"))
    registry.put("com/acme/lib/1.0/lib-1.0.jar", b"jar bytes")
    registry.put("com/acme/lib/1.1/lib-1.1.pom", pom_bytes("com.acme", "lib", "1.1"))
    registry.put("com/acme/tools/util/2.0/util-2.0.pom", pom_bytes("com.acme.tools", "util", "2.0"))
    registry.put("org/other/x/1/x-1.pom", pom_bytes("org.other", "x", "1"))

    assert links(registry.get("")) == ["com/", "org/"]
    assert links(registry.get("com/")) == ["../", "acme/"]
    assert links(registry.get("com/acme/")) == ["../", "lib/", "tools/"]
    assert links(registry.get("com/acme/lib/")) == [
        "../", "1.0/", "1.1/", "maven-metadata.xml", "maven-metadata.xml.md5", "maven-metadata.xml.sha1"]
    listing = registry.get("com/acme/lib/1.0/")
    assert links(listing) == ["../", "lib-1.0.jar", "lib-1.0.jar.md5", "lib-1.0.jar.sha1", "lib-1.0.pom",
                              "lib-1.0.pom.md5", "lib-1.0.pom.sha1"]
    assert "Index of /alice/libs/com/acme/lib/1.0/" in listing.get_data(as_text=True)
    assert "default-src 'none'" in listing.headers["Content-Security-Policy"]
    # Every link of a listing is there.
    for name in links(listing)[1:]:
        assert registry.get(f"com/acme/lib/1.0/{name}").status_code == 200, name


def test_directories_nothing_is_under_are_not_found(registry):
    assert links(registry.get("", repository="alice/other")) == []
    registry.put("com/acme/lib/1.0/lib-1.0.pom", pom_bytes("com.acme", "lib", "1.0"))
    for path in ("net/", "com/acme/lib/9.9/", "com/acme/lib/1.0/deeper/", "<script>alert(1)</script>/",
                 "com/../", "com/%00/"):
        response = registry.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/plain"


def test_listing_names_are_escaped(registry):
    registry.put("com/acme/lib/1.0/lib-1.0.pom", pom_bytes("com.acme", "lib", "1.0"))
    registry.put("com/acme/lib/1.0/lib-1.0-x.y.jar", b"jar")
    page = registry.get("com/acme/lib/1.0/").get_data(as_text=True)
    assert "<script" not in page and "lib-1.0-x.y.jar" in page


def test_listings_follow_who_may_read(registry):
    create_repository(find_account("alice"), "secret", "private")
    registry.put("com/acme/lib/1.0/lib-1.0.pom", pom_bytes("com.acme", "lib", "1.0"))
    put = registry.put("net/acme/hidden/1.0/hidden-1.0.pom", pom_bytes("net.acme", "hidden", "1.0"),
                       repository="alice/secret")
    assert put.status_code == 201
    anonymous = registry.get("", auth=False, repository="alice/secret")
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert links(registry.get("", repository="alice/secret")) == ["net/"]


def test_group_metadata_lists_the_plugins_of_a_group_with_their_prefixes(registry):
    registry.put("org/acme/plugins/maven-lint-plugin/1.0/maven-lint-plugin-1.0.pom",
                 plugin_pom("org.acme.plugins", "maven-lint-plugin", "1.0", "Lint"))
    registry.put("org/acme/plugins/deploy-maven-plugin/2.0/deploy-maven-plugin-2.0.pom",
                 plugin_pom("org.acme.plugins", "deploy-maven-plugin", "2.0", "Deploy"))
    registry.put("org/acme/plugins/odd/1.0/odd-1.0.pom", plugin_pom("org.acme.plugins", "odd", "1.0", "Odd"))
    registry.put("org/acme/plugins/library/1.0/library-1.0.pom", pom_bytes("org.acme.plugins", "library", "1.0"))

    response = registry.get("org/acme/plugins/maven-metadata.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    body = response.get_data(as_text=True)
    plugins = re.findall(r"<name>(.*?)</name>\s*<prefix>(.*?)</prefix>\s*<artifactId>(.*?)</artifactId>", body)
    assert plugins == [("Deploy", "deploy", "deploy-maven-plugin"), ("Lint", "lint", "maven-lint-plugin"),
                       ("Odd", "odd", "odd")]
    sha1 = registry.get("org/acme/plugins/maven-metadata.xml.sha1")
    assert sha1.get_data(as_text=True) == hashlib.sha1(response.data).hexdigest()
    # An artifact's own metadata is still its versions; a group without plugins has none.
    assert b"<version>1.0</version>" in registry.get("org/acme/plugins/library/maven-metadata.xml").data
    registry.put("solo/thing/1.0/thing-1.0.pom", pom_bytes("solo", "thing", "1.0"))
    assert registry.get("solo/maven-metadata.xml").status_code == 404
    registry.put("tools/maven-x-plugin/1.0/maven-x-plugin-1.0.pom", plugin_pom("tools", "maven-x-plugin", "1.0", "X"))
    assert b"<prefix>x</prefix>" in registry.get("tools/maven-metadata.xml").data

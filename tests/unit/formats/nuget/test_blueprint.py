"""The NuGet v3 protocol over HTTP, in process: the service index, push, the flat container,
registrations, search, autocomplete, delete (unlist, then delete) and relist, symbol packages, both URL
layouts, and bad input that leaves nothing behind."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.accounts.service import create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.formats.nuget import blueprint as nuget_blueprint
from appliance.formats.nuget.metadata import sorted_versions
from appliance.models import DownloadCount, Package, PackageVersion
from appliance.packages import access, queries
from appliance.settings import store_setting
from tests.support.maven_http import basic, footprint
from tests.support.nuget import multipart, nupkg_bytes, nuspec_xml
from tests.support.queries import Queries
from tests.support.recent import recent_answers_on_a_clock

FULL_SCOPES = ["read:packages", "write:packages", "delete:packages", "repo"]


@dataclass
class Feed:
    client: object
    token: str
    storage_root: Path
    owner: str = "alice"
    host: str = "localhost"
    prefix: str = "/_registry/nuget"

    def url(self, path: str) -> str:
        return f"{self.prefix}/{self.owner}/{path}"

    def headers(self, auth=True, **extra) -> dict:
        headers = {"Host": self.host, **extra}
        if auth is True:
            headers["X-NuGet-ApiKey"] = self.token
        elif auth:
            headers.update(auth)
        return headers

    def push(self, data: bytes, *, auth=True, path="api/v2/package"):
        body, content_type = multipart(data)
        return self.client.put(self.url(path), data=body, content_type=content_type, headers=self.headers(auth))

    def get(self, path: str, *, auth=True, **extra):
        return self.client.get(self.url(path), headers=self.headers(auth, **extra))

    def json(self, path: str, **kwargs) -> dict:
        response = self.get(path, **kwargs)
        assert response.status_code == 200, (path, response.status)
        return json.loads(response.data)

    def delete(self, path: str, *, auth=True):
        return self.client.delete(self.url(path), headers=self.headers(auth))

    def post(self, path: str, *, auth=True):
        return self.client.post(self.url(path), headers=self.headers(auth))


@pytest.fixture
def feed(app, client, bootstrap) -> Feed:
    store_setting("hostname", "localhost")
    store_setting("subdomain_isolation", False)
    alice = create_user("alice")
    for name in ("Acme.Widgets", "Acme.Core", "libs", "other"):
        create_repository(alice, name)
    _, token = issue_token(alice, FULL_SCOPES)
    nuget_blueprint.documents._entries.clear()
    return Feed(client, token, bootstrap.storage_path)


def reason(response) -> str:
    return response.status.split(" ", 1)[1]


def version_row(name: str, version: str) -> PackageVersion:
    package = Package.get((Package.format == "nuget") & (Package.lower_name == name.lower()))
    return PackageVersion.get((PackageVersion.package == package.id) & (PackageVersion.version == version))


# ---- the service index -----------------------------------------------------------------------------


def test_service_index_names_every_resource(feed):
    index = feed.json("index.json", auth=False)
    assert index["version"] == "3.0.0"
    types = {r["@type"]: r["@id"] for r in index["resources"]}
    base = "http://localhost/_registry/nuget/alice/"
    assert types["PackagePublish/2.0.0"] == f"{base}api/v2/package"
    assert types["SymbolPackagePublish/4.9.0"] == f"{base}api/v2/symbolpackage"
    assert types["PackageBaseAddress/3.0.0"] == f"{base}v3/flatcontainer/"
    for kind in ("RegistrationsBaseUrl", "RegistrationsBaseUrl/3.4.0", "RegistrationsBaseUrl/3.6.0"):
        assert types[kind] == f"{base}v3/registration/"
    for kind in ("SearchQueryService", "SearchQueryService/3.5.0"):
        assert types[kind] == f"{base}query"
    for kind in ("SearchAutocompleteService", "SearchAutocompleteService/3.5.0"):
        assert types[kind] == f"{base}autocomplete"


def test_service_index_of_nobody(feed):
    anonymous = feed.client.get("/_registry/nuget/nobody/index.json", headers={"Host": "localhost"})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    signed_in = feed.client.get("/_registry/nuget/nobody/index.json", headers=feed.headers())
    assert signed_in.status_code == 404 and "no user or organization named nobody" in reason(signed_in)


def test_subdomain_layout(feed):
    store_setting("subdomain_isolation", True)
    response = feed.client.get("/alice/index.json", headers={"Host": "nuget.localhost"})
    assert response.status_code == 200
    resources = json.loads(response.data)["resources"]
    assert resources[0]["@id"] == "http://nuget.localhost/alice/api/v2/package"
    pushed = feed.client.put("/alice/api/v2/package", data=multipart(nupkg_bytes("Acme.Widgets", "1.0.0"))[0],
                             content_type=multipart(b"")[1],
                             headers={"Host": "nuget.localhost", "X-NuGet-ApiKey": feed.token})
    assert pushed.status_code == 201
    flat = feed.client.get("/alice/v3/flatcontainer/acme.widgets/index.json", headers={"Host": "nuget.localhost"})
    assert json.loads(flat.data) == {"versions": ["1.0.0"]}
    # the path layout keeps answering while isolation is on, with URLs in its own layout
    by_path = feed.get("index.json", auth=False)
    assert by_path.status_code == 200
    assert json.loads(by_path.data)["resources"][0]["@id"] == "http://localhost/_registry/nuget/alice/api/v2/package"


def test_unrouted_urls_answer_in_nuget_shape(feed):
    response = feed.client.get("/_registry/nuget/alice/nothing/here", headers={"Host": "localhost"})
    assert response.status_code == 404 and "OWNER/index.json" in reason(response)
    response = feed.client.patch("/_registry/nuget/alice/index.json", headers={"Host": "localhost"})
    assert response.status_code == 405


def test_disabled_format(feed):
    store_setting("formats.nuget.enabled", False)
    response = feed.get("index.json")
    assert response.status_code == 403 and "switched off" in reason(response)


# ---- push and restore ------------------------------------------------------------------------------


def test_push_then_restore_everything(feed):
    core = nupkg_bytes("Acme.Core", "1.0.0")
    widgets = nupkg_bytes("Acme.Widgets", "1.0.0.0", description="Widgets for all", tags="ui widgets",
                          dependencies={"net6.0": [("Acme.Core", "1.0.0")], "netstandard2.0": []})
    assert feed.push(core).status_code == 201
    assert feed.push(widgets).status_code == 201

    assert feed.json("v3/flatcontainer/acme.widgets/index.json") == {"versions": ["1.0.0"]}
    nupkg = feed.get("v3/flatcontainer/acme.widgets/1.0.0/acme.widgets.1.0.0.nupkg")
    assert nupkg.status_code == 200 and nupkg.data == widgets
    assert DownloadCount.select().count() == 1
    nuspec = feed.get("v3/flatcontainer/Acme.Widgets/1.0.0/acme.widgets.nuspec")
    assert nuspec.status_code == 200 and b"<id>Acme.Widgets</id>" in nuspec.data
    assert feed.get("v3/flatcontainer/acme.widgets/1.0.0/acme.core.1.0.0.nupkg").status_code == 404
    assert feed.get("v3/flatcontainer/acme.widgets/2.0.0/acme.widgets.2.0.0.nupkg").status_code == 404

    index = feed.json("v3/registration/acme.widgets/index.json")
    assert index["count"] == 1
    page = index["items"][0]
    assert (page["lower"], page["upper"], page["count"]) == ("1.0.0", "1.0.0", 1)
    leaf = page["items"][0]
    entry = leaf["catalogEntry"]
    base = "http://localhost/_registry/nuget/alice/"
    assert leaf["packageContent"] == f"{base}v3/flatcontainer/acme.widgets/1.0.0/acme.widgets.1.0.0.nupkg"
    assert entry["id"] == "Acme.Widgets" and entry["version"] == "1.0.0" and entry["listed"] is True
    assert entry["description"] == "Widgets for all" and entry["tags"] == ["ui", "widgets"]
    assert entry["published"].startswith("20")
    groups = {g.get("targetFramework"): g["dependencies"] for g in entry["dependencyGroups"]}
    assert groups["netstandard2.0"] == []
    assert [(d["id"], d["range"], d["registration"]) for d in groups["net6.0"]] == [
        ("Acme.Core", "[1.0.0, )", f"{base}v3/registration/acme.core/index.json")]
    single = feed.json("v3/registration/acme.widgets/1.0.0.json")
    assert single["catalogEntry"]["version"] == "1.0.0" and single["listed"] is True


def test_registration_is_cached_per_package_state_and_revalidates(feed):
    feed.push(nupkg_bytes("Acme.Widgets", "1.0.0"))
    first = feed.get("v3/registration/acme.widgets/index.json")
    again = feed.get("v3/registration/acme.widgets/index.json", **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    feed.push(nupkg_bytes("Acme.Widgets", "1.1.0"))
    after = feed.json("v3/registration/acme.widgets/index.json")
    assert after["items"][0]["upper"] == "1.1.0"


def test_registration_pages_past_the_inline_limit(feed, monkeypatch):
    monkeypatch.setattr(nuget_blueprint, "PAGE_SIZE", 2)
    monkeypatch.setattr(nuget_blueprint, "INLINE_VERSIONS", 3)
    for version in ("1.0.0", "1.10.0", "1.2.0", "2.0.0-beta"):
        assert feed.push(nupkg_bytes("Acme.Widgets", version)).status_code == 201
    index = feed.json("v3/registration/acme.widgets/index.json")
    assert [(p["lower"], p["upper"], "items" in p) for p in index["items"]] == [
        ("1.0.0", "1.2.0", False), ("1.10.0", "2.0.0-beta", False)]
    page_url = index["items"][1]["@id"]
    page = feed.json(page_url.split("/alice/", 1)[1])
    assert [i["catalogEntry"]["version"] for i in page["items"]] == ["1.10.0", "2.0.0-beta"]
    assert feed.get("v3/registration/acme.widgets/page/9.0.0/9.9.9.json").status_code == 404
    assert feed.json("v3/flatcontainer/acme.widgets/index.json") == {
        "versions": ["1.0.0", "1.2.0", "1.10.0", "2.0.0-beta"]}


def test_ids_are_case_insensitive_and_versions_normalised(feed):
    assert feed.push(nupkg_bytes("Acme.Widgets", "01.0.0.0+build.7")).status_code == 201
    assert version_row("Acme.Widgets", "1.0.0") is not None
    # The same id in another case is the same package: its next version joins it.
    assert feed.push(nupkg_bytes("acme.WIDGETS", "1.1.0")).status_code == 201
    assert Package.select().where(Package.format == "nuget").count() == 1
    assert feed.json("v3/flatcontainer/ACME.widgets/index.json") == {"versions": ["1.0.0", "1.1.0"]}
    duplicate = feed.push(nupkg_bytes("ACME.Widgets", "1.0"))
    assert duplicate.status_code == 409 and "already exists" in reason(duplicate)


def test_versions_are_immutable_and_nothing_is_stored_by_a_refused_push(feed):
    assert feed.push(nupkg_bytes("Acme.Widgets", "1.0.0")).status_code == 201
    before = footprint(feed.storage_root)
    again = feed.push(nupkg_bytes("Acme.Widgets", "1.0.0", description="changed"))
    assert again.status_code == 409
    assert "versions cannot be replaced" in reason(again)
    assert footprint(feed.storage_root) == before


def test_linking_by_repository_url_then_by_id_then_refused(feed):
    named = nupkg_bytes("Named.Pkg", "1.0.0", repository_url="https://github.com/alice/libs.git")
    assert feed.push(named).status_code == 201
    assert Package.get(Package.lower_name == "named.pkg").repository.name == "libs"
    assert feed.push(nupkg_bytes("Acme.Core", "1.0.0")).status_code == 201
    assert Package.get(Package.lower_name == "acme.core").repository.name == "Acme.Core"
    before = footprint(feed.storage_root)
    nowhere = feed.push(nupkg_bytes("Unlinked", "1.0.0"))
    assert nowhere.status_code == 400
    assert "create the repository alice/Unlinked" in reason(nowhere) and '<repository type="git" url=' in reason(nowhere)
    elsewhere = feed.push(nupkg_bytes("Other.Owner", "1.0.0", repository_url="https://github.com/bob/x"))
    assert elsewhere.status_code == 400
    # The one text of every format, and NuGet's hint.
    assert reason(elsewhere).startswith("the .nuspec names the repository bob/x, but a package of alice belongs to a "
                                        "repository of alice: name a repository of alice (<repository ")
    missing = feed.push(nupkg_bytes("Missing.Repo", "1.0.0", repository_url="https://github.com/alice/nope"))
    assert missing.status_code == 400 and "alice/nope, which does not exist" in reason(missing)
    assert footprint(feed.storage_root) == before


# ---- symbols ---------------------------------------------------------------------------------------


def test_symbol_packages(feed):
    symbols = nupkg_bytes("Acme.Widgets", "1.0.0", package_type="SymbolsPackage",
                          entries={"lib/netstandard2.0/Acme.Widgets.pdb": b"pdb"})
    early = feed.push(symbols, path="api/v2/symbolpackage")
    assert (early.status_code, reason(early)) == (404, "Not Found")
    assert feed.push(nupkg_bytes("Acme.Widgets", "1.0.0")).status_code == 201
    other_version = feed.push(nupkg_bytes("Acme.Widgets", "2.0.0", package_type="SymbolsPackage"),
                              path="api/v2/symbolpackage")
    assert other_version.status_code == 404 and "push the package before its symbols" in reason(other_version)
    not_here = feed.push(symbols)
    assert not_here.status_code == 400 and "symbol package" in reason(not_here)
    plain = feed.push(nupkg_bytes("Acme.Widgets", "1.0.0"), path="api/v2/symbolpackage")
    assert plain.status_code == 400 and "SymbolsPackage" in reason(plain)
    assert feed.push(symbols, path="api/v2/symbolpackage").status_code == 201
    served = feed.get("v3/flatcontainer/acme.widgets/1.0.0/acme.widgets.1.0.0.snupkg")
    assert served.status_code == 200 and served.data == symbols
    assert feed.push(symbols, path="api/v2/symbolpackage").status_code == 409


# ---- search and autocomplete -----------------------------------------------------------------------


def test_search_filters_and_pages(feed):
    feed.push(nupkg_bytes("Acme.Core", "1.0.0", description="core"))
    feed.push(nupkg_bytes("Acme.Core", "2.0.0-beta"))
    feed.push(nupkg_bytes("Acme.Widgets", "1.0.0-rc.1"))
    feed.client.get(feed.url("v3/flatcontainer/acme.core/1.0.0/acme.core.1.0.0.nupkg"), headers=feed.headers())

    def ids(**query):
        document = feed.json("query?" + "&".join(f"{k}={v}" for k, v in query.items()))
        return document["totalHits"], [(d["id"], d["version"]) for d in document["data"]], document

    assert ids(q="acme")[:2] == (1, [("Acme.Core", "1.0.0")])
    assert ids(q="acme", prerelease="true")[:2] == (1, [("Acme.Core", "2.0.0-beta")])
    hits, found, document = ids(q="ACME", prerelease="true", semVerLevel="2.0.0")
    assert hits == 2 and sorted(found) == [("Acme.Core", "2.0.0-beta"), ("Acme.Widgets", "1.0.0-rc.1")]
    core = next(d for d in document["data"] if d["id"] == "Acme.Core")
    assert core["totalDownloads"] == 1
    assert [(v["version"], v["downloads"]) for v in core["versions"]] == [("1.0.0", 1), ("2.0.0-beta", 0)]
    assert ids(q="", prerelease="true", semVerLevel="2.0.0", skip=1, take=1)[0] == 2
    assert len(ids(q="", prerelease="true", semVerLevel="2.0.0", skip=1, take=1)[1]) == 1
    assert ids(q="packageid:acme.widgets", prerelease="true", semVerLevel="2.0.0")[1] == [
        ("Acme.Widgets", "1.0.0-rc.1")]
    assert ids(q="nothing")[:2] == (0, [])

    assert feed.json("autocomplete?q=core")["data"] == ["Acme.Core"]
    assert feed.json("autocomplete?id=acme.core&prerelease=true")["data"] == ["1.0.0", "2.0.0-beta"]
    assert feed.json("autocomplete?id=acme.core")["data"] == ["1.0.0"]
    assert feed.json("autocomplete?id=no.such")["data"] == []


def test_search_decides_access_in_the_query(feed, monkeypatch):
    """Search asks the database which packages the actor may read (the rules as SQL), not `authorize`
    once per package or repository."""
    for i in range(6):
        feed.push(nupkg_bytes(f"Acme.Part{i}", "1.0.0", repository_url="https://localhost/alice/libs"))
    calls = []
    real = access.authorize  # where the service asks the rules one repository at a time
    monkeypatch.setattr(access, "authorize", lambda *args, **kwargs: calls.append(args) or real(*args, **kwargs))
    assert feed.json("query?q=part")["totalHits"] == 6
    assert calls == []


def test_search_filters_versions_counts_and_pages_in_sql(feed):
    """Which packages have a version to show (listed; prerelease only when asked), how many match and
    which are on the page are the database's to say: a page costs the same number of statements however
    many packages match, and a package whose every version is unlisted is neither shown nor counted."""
    libs = "https://localhost/alice/libs"

    def page_costs(count: int) -> int:
        feed.json("query?q=part&take=2")  # the first of the second also looks up the user's roles (auth.recent)
        with Queries() as queries:
            document = feed.json("query?q=part&take=2")
        assert document["totalHits"] == count and len(document["data"]) == 2
        # A token's last use is written at most once a minute, whichever request that falls on.
        return sum(1 for sql in queries.statements if not sql.startswith('UPDATE "token"'))

    for i in range(3):
        feed.push(nupkg_bytes(f"Acme.Part{i}", "1.0.0", repository_url=libs))
    few = page_costs(3)
    for i in range(3, 9):
        feed.push(nupkg_bytes(f"Acme.Part{i}", "1.0.0", repository_url=libs))
    assert page_costs(9) == few
    feed.push(nupkg_bytes("Acme.Part9", "1.0.0-rc.1", repository_url=libs))
    feed.delete("api/v2/package/Acme.Part0/1.0.0")  # unlisted: its only version is not shown
    assert feed.json("query?q=part&take=20")["totalHits"] == 8
    newest = feed.json("query?q=part&prerelease=true&semVerLevel=2.0.0&take=1")
    assert (newest["totalHits"], [d["id"] for d in newest["data"]]) == (9, ["Acme.Part9"])
    legacy = feed.get("api/v2/Search()?searchTerm='part'&$filter=IsLatestVersion&$skip=1&$top=2")
    assert [(i, v) for i, v, _ in _entries(legacy)] == [("Acme.Part2", "1.0.0"), ("Acme.Part3", "1.0.0")]


def titled_nuspec(package_id: str, title: str) -> bytes:
    return nuspec_xml(package_id, "1.0.0").replace(b"<authors>", f"<title>{title}</title><authors>".encode())


def test_search_matches_id_title_tags_description_and_authors_exact_id_first(feed):
    libs = "https://localhost/alice/libs"
    feed.push(nupkg_bytes("Described", "1.0.0", description="helpers for Acme.Core users", repository_url=libs))
    feed.push(nupkg_bytes("Authored", "1.0.0", authors="Acme.Core team", repository_url=libs))
    feed.push(nupkg_bytes("Tagged", "1.0.0", tags="acme.core extras", repository_url=libs))
    feed.push(nupkg_bytes("Titled", "1.0.0", nuspec=titled_nuspec("Titled", "Acme.Core Tools").replace(
        b"</description>", f'</description><repository type="git" url="{libs}" />'.encode())))
    feed.push(nupkg_bytes("Acme.Core.Extensions", "1.0.0", repository_url=libs))
    feed.push(nupkg_bytes("Acme.Core", "1.0.0"))
    feed.push(nupkg_bytes("Unrelated", "1.0.0", repository_url=libs))
    document = feed.json("query?q=acme.core")
    assert [d["id"] for d in document["data"]] == [
        "Acme.Core", "Acme.Core.Extensions", "Titled", "Tagged", "Described", "Authored"]
    assert document["totalHits"] == 6
    assert [d["id"] for d in feed.json("query?q=extras acme.core")["data"]] == ["Tagged"]
    assert feed.json("autocomplete?q=acme.core")["data"][0] == "Acme.Core"


def test_a_search_query_too_long_is_refused(feed):
    response = feed.get("query?q=" + "a" * 1001)
    assert response.status_code == 400 and "longer than 1000 characters" in reason(response)


def test_registrations_are_served_gzip_when_asked(feed):
    import gzip

    feed.push(nupkg_bytes("Acme.Widgets", "1.0.0"))
    plain = feed.get("v3/registration/acme.widgets/index.json")
    assert "Content-Encoding" not in plain.headers
    packed = feed.get("v3/registration/acme.widgets/index.json", **{"Accept-Encoding": "gzip, deflate"})
    assert packed.status_code == 200 and packed.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.data)) == json.loads(plain.data)
    assert "Accept-Encoding" in packed.headers["Vary"] and packed.headers["ETag"] != plain.headers["ETag"]
    again = feed.get("v3/registration/acme.widgets/index.json",
                     **{"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304
    refused = feed.get("v3/registration/acme.widgets/index.json", **{"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_service_index_points_at_the_package_page(feed):
    index = feed.json("index.json", auth=False)
    template = next(r["@id"] for r in index["resources"] if r["@type"] == "PackageDetailsUriTemplate/5.1.0")
    assert template == "http://localhost/users/alice/packages/nuget/package/{id}"
    feed.push(nupkg_bytes("Acme.Widgets", "1.0.0"))
    page = feed.client.get(template.removeprefix("http://localhost").replace("{id}", "acme.widgets"),
                           headers={"Host": "localhost"})
    assert page.status_code == 200 and page.mimetype == "text/html" and b"Acme.Widgets" in page.data


# ---- delete (unlist), delete, relist ---------------------------------------------------------------


def test_delete_unlists_then_deletes_and_relist_restores(feed):
    feed.push(nupkg_bytes("Acme.Core", "1.0.0"))
    feed.push(nupkg_bytes("Acme.Core", "1.1.0"))
    assert feed.delete("api/v2/package/acme.core/1.1.0").status_code == 204
    # Unlisted: out of search, still restorable by its exact version.
    assert feed.json("query?q=acme")["data"][0]["version"] == "1.0.0"
    assert feed.json("autocomplete?id=acme.core")["data"] == ["1.0.0"]
    assert feed.json("v3/flatcontainer/acme.core/index.json") == {"versions": ["1.0.0", "1.1.0"]}
    assert feed.get("v3/flatcontainer/acme.core/1.1.0/acme.core.1.1.0.nupkg").status_code == 200
    entry = feed.json("v3/registration/acme.core/index.json")["items"][0]["items"][1]["catalogEntry"]
    assert entry["listed"] is False and entry["published"].startswith("1900")
    # A second delete deletes it (restorable for retention.deleted_days).
    assert feed.delete("api/v2/package/acme.core/1.1.0").status_code == 204
    assert feed.json("v3/flatcontainer/acme.core/index.json") == {"versions": ["1.0.0"]}
    assert feed.get("v3/flatcontainer/acme.core/1.1.0/acme.core.1.1.0.nupkg").status_code == 404
    assert feed.delete("api/v2/package/acme.core/1.1.0").status_code == 404
    # Relist restores and lists it again.
    assert feed.post("api/v2/package/acme.core/1.1.0").status_code == 200
    assert feed.json("query?q=acme")["data"][0]["version"] == "1.1.0"
    assert feed.json("v3/flatcontainer/acme.core/index.json") == {"versions": ["1.0.0", "1.1.0"]}
    assert feed.delete("api/v2/package/acme.core/9.9.9").status_code == 404
    assert feed.delete("api/v2/package/no.such/1.0.0").status_code == 404


# ---- bad input -------------------------------------------------------------------------------------


def _bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Bomb.nuspec", nuspec_xml("Bomb", "1.0.0"))
        archive.writestr("content/zeros.bin", b"\0" * (16 << 20))
    return buffer.getvalue()


BAD = {
    "not-a-zip": (b"this is not a zip", "not a valid .nupkg"),
    "no-nuspec": (nupkg_bytes("X", "1.0", nuspec=b"", entries={}).replace(b"X.nuspec", b"X.nuspez"),
                  "exactly one .nuspec"),
    "dtd": (nupkg_bytes("X", "1.0", nuspec=b'<?xml version="1.0"?><!DOCTYPE package [<!ENTITY e "x">]>'
                                          b"<package><metadata><id>&e;</id></metadata></package>"),
            "DTD or entities"),
    "external-entity": (nupkg_bytes("X", "1.0", nuspec=b'<!DOCTYPE p [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                                                     b"<package>&e;</package>"), "DTD or entities"),
    "bomb": (_bomb(), "zip bomb"),
    "id-path": (nupkg_bytes("X", "1.0", nuspec=nuspec_xml("../../etc/passwd", "1.0")), "is not valid"),
    "version-path": (nupkg_bytes("X", "1.0", nuspec=nuspec_xml("X", "1.0/../../x")), "not a valid NuGet version"),
    "entry-path": (nupkg_bytes("X", "1.0", entries={"../../evil.dll": b"x"}), "unsafe path"),
    "version-long": (nupkg_bytes("X", "1.0", nuspec=nuspec_xml("X", "1." + "0" * 5000)), "longer than 255"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_packages_are_refused_and_leave_nothing(feed, case):
    data, message = BAD[case]
    before = footprint(feed.storage_root)
    response = feed.push(data)
    assert response.status_code == 400, response.status
    assert message in reason(response)
    assert footprint(feed.storage_root) == before


def test_reason_phrases_carry_no_control_characters(feed):
    """Entry names (cp437 in a zip, C0 controls included) end up in messages, and so in the status line."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Bomb.nuspec", nuspec_xml("Bomb", "1.0.0"))
        archive.writestr("content/\x07\x1bzeros\x7f\x85.bin", b"\0" * (16 << 20))
    response = feed.push(buffer.getvalue())
    assert response.status_code == 400 and "zip bomb" in reason(response)
    assert "content/??zeros?" in reason(response)
    assert response.status.isprintable()
    response.status.encode("latin-1")


def test_bad_requests(feed):
    not_multipart = feed.client.put(feed.url("api/v2/package"), data=nupkg_bytes("X", "1.0"),
                                    content_type="application/octet-stream", headers=feed.headers())
    assert not_multipart.status_code == 400 and "multipart/form-data" in reason(not_multipart)
    empty = feed.client.put(feed.url("api/v2/package"), data=b"--b--\r\n",
                            content_type="multipart/form-data; boundary=b", headers=feed.headers())
    assert empty.status_code == 400 and "no package file" in reason(empty)
    bad_id = feed.get("v3/flatcontainer/..%2F..%2Fetc/index.json")
    assert bad_id.status_code in (400, 404)
    assert feed.get("v3/flatcontainer/a..b/index.json").status_code == 400


def test_too_large_is_refused_before_storing(feed):
    store_setting("max_upload_bytes", 1000)
    before = footprint(feed.storage_root)
    response = feed.push(nupkg_bytes("Acme.Widgets", "1.0.0", entries={"big": bytes(range(256)) * 400}))
    assert response.status_code == 413
    assert footprint(feed.storage_root) == before


@pytest.mark.parametrize(("auth", "status", "message"), [
    (False, 401, "authentication required: push with -ApiKey TOKEN"),
    ({"X-NuGet-ApiKey": "apt_wrong"}, 401, "bad credentials"),
    ({"Authorization": "Basic !!"}, 401, "malformed HTTP Basic"),
])
def test_wrong_or_missing_key(feed, auth, status, message):
    before = footprint(feed.storage_root)
    response = feed.push(nupkg_bytes("Acme.Widgets", "1.0.0"), auth=auth)
    assert response.status_code == status and message in reason(response)
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert footprint(feed.storage_root) == before


def test_basic_auth_push(feed):
    assert feed.push(nupkg_bytes("Acme.Widgets", "1.0.0"), auth=basic("alice", feed.token)).status_code == 201


# ---- the legacy v2 feed (nuget list) ---------------------------------------------------------------


def _entries(response) -> list[tuple[str, str, str]]:
    import xml.etree.ElementTree as ET

    from appliance.formats.nuget.metadata import ATOM, DATA_SERVICES, DATA_SERVICES_METADATA

    assert response.status_code == 200, response.status
    feed = ET.fromstring(response.data)
    found = []
    for entry in feed.findall(f"{{{ATOM}}}entry"):
        properties = entry.find(f"{{{DATA_SERVICES_METADATA}}}properties")
        found.append((entry.find(f"{{{ATOM}}}title").text, properties.find(f"{{{DATA_SERVICES}}}Version").text,
                      entry.find(f"{{{ATOM}}}content").get("src")))
    return found


def test_legacy_search_as_nuget_list_asks(feed):
    feed.push(nupkg_bytes("Acme.Core", "1.0.0"))
    feed.push(nupkg_bytes("Acme.Core", "2.0.0-beta"))
    feed.push(nupkg_bytes("Acme.Widgets", "1.0.0"))
    feed.push(nupkg_bytes("Acme.Widgets", "1.1.0"))
    feed.delete("api/v2/package/Acme.Widgets/1.1.0")
    assert feed.get("api/v2").status_code == 200
    assert feed.get("api/v2/$metadata").status_code == 404
    base = "http://localhost/_registry/nuget/alice/v3/flatcontainer/"
    latest = feed.get("api/v2/Search()?$filter=IsLatestVersion&$orderby=Id&searchTerm=''&targetFramework=''"
                      "&includePrerelease=false&$skip=0&$top=30&semVerLevel=2.0.0")
    assert _entries(latest) == [("Acme.Core", "1.0.0", f"{base}acme.core/1.0.0/acme.core.1.0.0.nupkg"),
                                ("Acme.Widgets", "1.0.0", f"{base}acme.widgets/1.0.0/acme.widgets.1.0.0.nupkg")]
    everything = feed.get("api/v2/Search()?searchTerm='core'&includePrerelease=true&$skip=0&$top=30")
    assert [(i, v) for i, v, _ in _entries(everything)] == [("Acme.Core", "1.0.0"), ("Acme.Core", "2.0.0-beta")]
    paged = feed.get("api/v2/Search()?searchTerm=''&includePrerelease=true&$skip=1&$top=1")
    assert [(i, v) for i, v, _ in _entries(paged)] == [("Acme.Core", "2.0.0-beta")]
    assert feed.get("api/v2/Search()?searchTerm=''", auth=False).status_code == 401


def test_legacy_search_of_every_version_pages_in_sql(app, feed, monkeypatch):
    """Search() without a $filter lists every version a package shows, the packages by id and each one's
    versions in NuGet's order: any window, starting and ending inside packages, answers what that whole
    list cut there answers, in as many statements whatever the window, reading the versions of the
    packages it reaches and no others."""
    pushed = {"Acme.C": ["3.0.0", "0.1.0", "1.0.0", "2.0.0", "10.0.0", "1.5.0"], "acme.b": ["2.0.0"],
              "Acme.A": ["1.10.0", "1.2.0", "1.9.0-rc1", "1.0.0"], "Acme.D": ["1.1.0", "1.0.0"]}
    for name, versions in pushed.items():
        for version in versions:
            assert feed.push(nupkg_bytes(name, version, repository_url="https://localhost/alice/libs")).status_code == 201
    feed.delete("api/v2/package/Acme.C/2.0.0")  # unlisted: in no search
    shown = {name: sorted_versions([v for v in versions if (name, v) != ("Acme.C", "2.0.0")])
             for name, versions in pushed.items()}
    everything = [(name, v) for name in sorted(shown, key=str.lower) for v in shown[name]]
    read: list[int] = []
    real = queries.live_version_views

    def reading(packages, **options):
        found = real(packages, **options)
        read.append(sum(len(versions) for versions in found.values()))
        return found

    monkeypatch.setattr(queries, "live_version_views", reading)
    recent_answers_on_a_clock(app)  # the token and roles, looked up once, are remembered while the test runs
    feed.get("api/v2/Search()?searchTerm=''")
    costs = set()
    for skip in range(len(everything) + 2):
        for top in (1, 2, 3, 5, 30):
            read.clear()
            with Queries() as statements:
                response = feed.get(f"api/v2/Search()?searchTerm=''&includePrerelease=true&$skip={skip}&$top={top}")
            window = everything[skip:skip + top]
            assert [(i, v) for i, v, _ in _entries(response)] == window, (skip, top)
            assert sum(read) == sum(len(shown[name]) for name in {name for name, _ in window}), (skip, top)
            if window:
                costs.add(statements.count)
    assert len(costs) == 1
    stable = feed.get("api/v2/Search()?searchTerm='acme'&$skip=2&$top=3")
    assert [(i, v) for i, v, _ in _entries(stable)] == [("Acme.A", "1.10.0"), ("acme.b", "2.0.0"), ("Acme.C", "0.1.0")]


def test_a_package_larger_than_the_in_memory_spool_round_trips(feed):
    """Past 500 KiB werkzeug's form parser spools the package to a temporary file; it must arrive whole."""
    import os

    data = nupkg_bytes("Acme.Widgets", "1.0.0", entries={"content/random.bin": os.urandom(3 << 20)})
    assert feed.push(data).status_code == 201
    assert feed.get("v3/flatcontainer/acme.widgets/1.0.0/acme.widgets.1.0.0.nupkg").data == data


def test_a_package_holding_a_token_of_this_appliance_is_refused_naming_the_file(feed):
    before = footprint(feed.storage_root)
    config = f'<configuration><add key="ClearTextPassword" value="{feed.token}" /></configuration>'
    response = feed.push(nupkg_bytes("Acme.Widgets", "1.0.0", entries={"content/NuGet.Config": config.encode()}))
    assert response.status_code == 400
    # nuget prints the reason phrase: which file, and which token to revoke
    assert "acme.widgets.1.0.0.nupkg: content/NuGet.Config holds a token of this appliance" in reason(response)
    assert "appliance tokens revoke 1" in reason(response)
    assert footprint(feed.storage_root) == before
    assert Package.select().count() == 0

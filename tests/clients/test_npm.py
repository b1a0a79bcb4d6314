"""The real npm client (and, where npm cannot say it, plain HTTP) against the appliance under gunicorn.

Installs by version, dist-tag and abbreviated metadata; immutable versions; view, dist-tag, deprecate,
unpublish, whoami, ping and search; download counts and revalidation; repository links; both URL
layouts; settings that apply to a running server; and bad input, refused in npm's `{"error": ...}` shape
and leaving nothing behind. Every test names its own packages, so they share one appliance per layout.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from appliance.formats.npm.blueprint import BASE64_OVERHEAD, DOCUMENT_ALLOWANCE
from appliance.models.audit import AuditEvent
from appliance.models.packages import Blob, DownloadCount, Package, PackageFile, PackageTag, PackageVersion
from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance
from tests.support.npm import Npm, NpmResult

ABBREVIATED = "application/vnd.npm.install-v1+json"
# What npm 11 sends when it installs; the appliance must pick the abbreviated form from it.
INSTALL_ACCEPT = f"{ABBREVIATED}; q=1.0, application/json; q=0.8, */*"
FULL_SCOPES = "read:packages,write:packages,delete:packages,repo"
READ_WRITE_SCOPES = "read:packages,write:packages"
REPOSITORY = "alice/pkgs"  # where packages of this module are linked unless a test says otherwise
LACKS_DELETE = "this token lacks the scope for this: it needs delete:packages, read:packages and repo"
ISOLATED_HOSTNAME = "appliance.test"


@pytest.fixture(scope="module", autouse=True)
def _npm_installed():
    require_client("npm")


@dataclass(frozen=True)
class Tokens:
    alice: str  # full: read, write, delete, repo
    alice_read_write: str
    bob: str


@pytest.fixture(scope="module")
def tokens(live) -> Tokens:
    live.user("alice")
    live.repo(REPOSITORY)
    live.repo("alice/other-repo")
    live.user("bob")
    live.repo("bob/secret", "private")
    live.repo("bob/public-stuff")
    return Tokens(live.token("alice", FULL_SCOPES), live.token("alice", READ_WRITE_SCOPES),
                  live.token("bob", FULL_SCOPES))


# ---- helpers -------------------------------------------------------------------------------------------


def registry(live: LiveAppliance) -> str:
    return f"{live.origin}/_registry/npm/"


def escaped(name: str) -> str:
    """How npm writes a scoped name in a URL path."""
    return name.replace("/", "%2f")


def npm(live: LiveAppliance, workdir: Path, token: str | None, scope: str = "alice") -> Npm:
    return Npm(workdir, registry(live), scope, token)


def publish(author: Npm, name: str, version: str, *args: str, **fields) -> NpmResult:
    """`npm publish` of NAME@VERSION from the author's directory; fields set to None are left out."""
    fields.setdefault("repository", REPOSITORY)
    author.write_package(name, version, **{k: v for k, v in fields.items() if v is not None})
    return author.run("publish", *args)


def published(author: Npm, name: str, version: str, *args: str, **fields) -> None:
    result = publish(author, name, version, *args, **fields)
    assert result.returncode == 0, result.output
    assert f"+ {name}@{version}" in result.stdout


def installed(live: LiveAppliance, workdir: Path, token: str, spec: str) -> tuple[Npm, NpmResult]:
    """`npm install SPEC` into a fresh project with a fresh cache."""
    consumer = npm(live, workdir, token)
    consumer.write_consumer()
    result = consumer.run("install", spec)
    assert result.returncode == 0, result.output
    return consumer, result


def get(live: LiveAppliance, path: str, token: str | None, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(registry(live) + path, headers=headers, timeout=30, **kwargs)


def put(live: LiveAppliance, path: str, token: str | None, **kwargs) -> requests.Response:
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.put(registry(live) + path, headers=headers, timeout=30, **kwargs)


def packument(live: LiveAppliance, name: str, token: str) -> dict:
    response = get(live, escaped(name), token)
    assert response.status_code == 200, response.text
    return response.json()


def npm_error(response: requests.Response | http.client.HTTPResponse, status: int, body: bytes | None = None) -> str:
    """The message of an answer in npm's error shape, after checking its status and shape."""
    code = response.status if isinstance(response, http.client.HTTPResponse) else response.status_code
    content = body if body is not None else response.content
    assert code == status, content
    assert response.headers["Content-Type"].startswith("application/json"), content
    document = json.loads(content)
    assert list(document) == ["error"] and isinstance(document["error"], str) and document["error"]
    return document["error"]


def tarball_of(name: str, version: str, padding: bytes = b"") -> bytes:
    """A real npm tarball: package/package.json, and `padding` as package/blob.bin."""
    members = {"package/package.json": json.dumps({"name": name, "version": version}).encode()}
    if padding:
        members["package/blob.bin"] = padding
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def publish_document(name: str, version: str, *, data: bytes | None = None, sha512: bytes | None = None,
                     shasum: str | None = None, attachment: str | None = None) -> dict:
    """What `npm publish` sends; the keyword arguments make it lie about its tarball."""
    data = tarball_of(name, version) if data is None else data
    integrity = "sha512-" + base64.b64encode(sha512 or hashlib.sha512(data).digest()).decode()
    manifest = {"name": name, "version": version, "repository": REPOSITORY,
                "dist": {"shasum": shasum or hashlib.sha1(data).hexdigest(), "integrity": integrity}}
    return {
        "_id": name, "name": name, "dist-tags": {"latest": version}, "versions": {version: manifest},
        "_attachments": {attachment or f"{name}-{version}.tgz": {
            "content_type": "application/octet-stream", "data": base64.b64encode(data).decode(),
            "length": len(data)}},
    }


def stored(live: LiveAppliance) -> dict:
    """Every file in the appliance's storage (blobs/ and uploads/) and the rows a publish adds."""
    root = live.bootstrap.storage_path
    with live.db():
        rows = {model.__name__: model.select().count()
                for model in (Package, PackageVersion, PackageFile, Blob, PackageTag)}
    return {"files": sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()), "rows": rows}


@contextlib.contextmanager
def setting(live: LiveAppliance, key: str, value, restore) -> Iterator[None]:
    live.set(key, value)
    try:
        yield
    finally:
        live.set(key, restore)


def config_set(appliance: LiveAppliance, key: str, value: str) -> None:
    """`appliance config set` as an administrator runs it, next to the running server."""
    done = subprocess.run([sys.executable, "-m", "appliance", "config", "set", key, value], check=False,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, APPLIANCE_HOME=str(appliance.home)))
    assert done.returncode == 0, done.stderr


# ---- installing ----------------------------------------------------------------------------------------


def test_install_an_older_version(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/older", "1.0.0")
    published(author, "@alice/older", "1.1.0")

    pinned, _ = installed(live, tmp_path / "pinned", tokens.alice, "@alice/older@1.0.0")
    assert pinned.installed_version("@alice/older") == "1.0.0"
    index = pinned.workdir / "node_modules" / "@alice" / "older" / "index.js"
    assert index.read_text() == 'module.exports = "@alice/older@1.0.0";\n'
    newest, _ = installed(live, tmp_path / "newest", tokens.alice, "@alice/older")
    assert newest.installed_version("@alice/older") == "1.1.0"


def test_install_a_dist_tag(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/tagged", "1.0.0")
    result = publish(author, "@alice/tagged", "2.0.0-beta.1", "--tag", "beta")
    assert result.returncode == 0, result.output
    assert "with tag beta" in result.output

    beta, _ = installed(live, tmp_path / "beta", tokens.alice, "@alice/tagged@beta")
    assert beta.installed_version("@alice/tagged") == "2.0.0-beta.1"
    assert packument(live, "@alice/tagged", tokens.alice)["dist-tags"] == {"latest": "1.0.0",
                                                                             "beta": "2.0.0-beta.1"}
    latest, _ = installed(live, tmp_path / "latest", tokens.alice, "@alice/tagged")
    assert latest.installed_version("@alice/tagged") == "1.0.0"


def test_install_reads_the_abbreviated_packument(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/corgi", "1.0.0", description="a small document", keywords=["corgi"],
              engines={"node": ">=18"})
    # A lockfile of npm 6 names versions only: npm 11 fills it in from the abbreviated packument alone.
    consumer = npm(live, tmp_path / "consumer", tokens.alice)
    (consumer.workdir / "package.json").write_text(json.dumps(
        {"name": "consumer", "version": "1.0.0", "dependencies": {"@alice/corgi": "^1.0.0"}}))
    (consumer.workdir / "package-lock.json").write_text(json.dumps(
        {"name": "consumer", "version": "1.0.0", "lockfileVersion": 1, "requires": True,
         "dependencies": {"@alice/corgi": {"version": "1.0.0"}}}))
    result = consumer.run("install")
    assert result.returncode == 0, result.output
    assert consumer.installed_version("@alice/corgi") == "1.0.0"

    # What npm asked for and got, as its HTTP cache recorded it: the abbreviated packument, nothing else.
    url = f"{registry(live)}{escaped('@alice/corgi')}"
    asked = [(entry["reqHeaders"]["accept"], entry["resHeaders"]["content-type"])
             for entry in consumer.cached_responses() if entry["url"] == url]
    assert asked == [(INSTALL_ACCEPT, ABBREVIATED)]

    response = get(live, escaped("@alice/corgi"), tokens.alice, headers={"Accept": INSTALL_ACCEPT})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ABBREVIATED
    assert "Accept" in response.headers["Vary"]
    corgi = response.json()
    assert set(corgi) == {"name", "modified", "dist-tags", "versions"}
    assert corgi["name"] == "@alice/corgi" and corgi["dist-tags"] == {"latest": "1.0.0"}
    entry = corgi["versions"]["1.0.0"]
    assert set(entry) == {"name", "version", "engines", "dist"}
    assert entry["engines"] == {"node": ">=18"}
    assert set(entry["dist"]) == {"shasum", "integrity", "tarball"}
    lock = json.loads((consumer.workdir / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@alice/corgi"]["integrity"] == entry["dist"]["integrity"]
    assert entry["dist"]["tarball"] == f"{registry(live)}@alice/corgi/-/corgi-1.0.0.tgz"

    full = packument(live, "@alice/corgi", tokens.alice)
    assert {"_id", "_rev", "time", "readme", "description", "keywords"} <= set(full)
    assert full["versions"]["1.0.0"]["description"] == "a small document"
    assert full["versions"]["1.0.0"]["dist"] == entry["dist"]


# ---- versions are immutable ----------------------------------------------------------------------------


def test_republishing_a_version_fails_and_keeps_the_tarball(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/immutable", "1.0.0")
    tarball = "@alice/immutable/-/immutable-1.0.0.tgz"
    first = get(live, tarball, tokens.alice)
    assert first.status_code == 200
    before = stored(live)

    (author.workdir / "index.js").write_text('module.exports = "something else";\n')
    refused_by_npm = author.run("publish")  # npm checks the packument first
    assert refused_by_npm.returncode != 0
    assert "You cannot publish over the previously published versions: 1.0.0." in refused_by_npm.output
    forced = author.run("publish", "--force")  # npm skips its check; the appliance must refuse
    assert forced.returncode != 0
    assert "npm error code E409" in forced.output
    assert ("409 CONFLICT - PUT " in forced.output and "@alice/immutable@1.0.0 already exists: versions "
            "cannot be replaced, publish a new version" in forced.output), forced.output

    again = get(live, tarball, tokens.alice)
    assert hashlib.sha256(again.content).hexdigest() == hashlib.sha256(first.content).hexdigest()
    dist = packument(live, "@alice/immutable", tokens.alice)["versions"]["1.0.0"]["dist"]
    assert dist["shasum"] == hashlib.sha1(first.content).hexdigest()
    assert stored(live) == before


def test_a_package_holding_a_token_is_refused_naming_the_file(live, tokens, tmp_path):
    """A token of this appliance packed by mistake: npm prints which file, and nothing is published."""
    author = npm(live, tmp_path / "author", tokens.alice)
    author.write_package("@alice/leaky", "1.0.0", repository=REPOSITORY)
    (author.workdir / "deploy.env").write_text(f"NPM_TOKEN={tokens.alice}\n")
    before = stored(live)
    refused = author.run("publish")
    assert refused.returncode != 0
    assert "npm error code E400" in refused.output, refused.output
    assert "leaky-1.0.0.tgz: package/deploy.env holds a token of this appliance" in refused.output
    assert "appliance tokens revoke" in refused.output
    assert stored(live) == before


# ---- view, dist-tag, deprecate -------------------------------------------------------------------------


def test_view_shows_fields_and_versions(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/viewed", "1.0.0", description="first", license="MIT")
    published(author, "@alice/viewed", "1.1.0", description="second", license="MIT", keywords=["view"])

    view = author.run("view", "@alice/viewed", "--json")
    assert view.returncode == 0, view.output
    document = json.loads(view.stdout)
    assert document["name"] == "@alice/viewed"
    assert document["version"] == "1.1.0"
    assert document["description"] == "second"
    assert document["license"] == "MIT"
    assert document["keywords"] == ["view"]
    assert document["dist-tags"] == {"latest": "1.1.0"}
    assert document["versions"] == ["1.0.0", "1.1.0"]
    assert document["dist"]["tarball"] == f"{registry(live)}@alice/viewed/-/viewed-1.1.0.tgz"
    assert set(document["time"]) >= {"created", "modified", "1.0.0", "1.1.0"}

    versions = author.run("view", "@alice/viewed", "versions", "--json")
    assert json.loads(versions.stdout) == ["1.0.0", "1.1.0"]
    older = author.run("view", "@alice/viewed@1.0.0", "description")
    assert older.stdout.strip() == "first"


def test_view_of_a_version_range(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    for version in ("1.0.0", "1.2.0", "1.10.0", "2.0.0"):
        published(author, "@alice/ranged", version, description=f"at {version}")

    caret = author.run("view", "@alice/ranged@^1.2.0", "version", "--json")
    assert caret.returncode == 0, caret.output
    assert json.loads(caret.stdout) == ["1.2.0", "1.10.0"]
    bounded = author.run("view", "@alice/ranged@>=1.1 <2", "description")
    assert bounded.returncode == 0, bounded.output
    assert "@alice/ranged@1.2.0 'at 1.2.0'" in bounded.stdout
    assert "@alice/ranged@1.10.0 'at 1.10.0'" in bounded.stdout
    nothing = author.run("view", "@alice/ranged@^3", "version")
    assert nothing.returncode != 0
    assert "No match found for version ^3" in nothing.output


def test_owner_ls_names_the_repository_admins(live, tokens, tmp_path):
    live.repo("alice/owned")
    for login, role in (("carol", "admin"), ("dave", "write")):
        live.user(login)
        live.grant("alice/owned", login, role)
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/owned", "1.0.0", repository="alice/owned")

    owners = author.run("owner", "ls", "@alice/owned")
    assert owners.returncode == 0, owners.output
    assert owners.stdout.splitlines() == ["alice <alice@users.noreply.127.0.0.1>",
                                          "carol <carol@users.noreply.127.0.0.1>"]
    live.grant("alice/owned", "dave", "admin")
    # The packument did not change, but its owners did: the next `owner ls` says so.
    assert "dave <dave@users.noreply.127.0.0.1>" in author.run("owner", "ls", "@alice/owned").stdout


def test_access_get_status_says_public_or_private(live, tokens, tmp_path):
    live.repo("alice/hidden", "private")
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/shown", "1.0.0")
    published(author, "@alice/hidden", "1.0.0", repository="alice/hidden")

    for name, status in (("@alice/shown", "public"), ("@alice/hidden", "private")):
        result = author.run("access", "get", "status", name, "--json")
        assert result.returncode == 0, result.output
        assert json.loads(result.stdout) == {name: status}
    outsider = npm(live, tmp_path / "bob", tokens.bob).run("access", "get", "status", "@alice/hidden")
    assert outsider.returncode != 0
    assert "404 NOT FOUND - GET" in outsider.output


def test_dist_tag_add_ls_rm(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/tags", "1.0.0")
    published(author, "@alice/tags", "1.1.0")

    added = author.run("dist-tag", "add", "@alice/tags@1.0.0", "stable")
    assert added.returncode == 0, added.output
    assert added.stdout.strip() == "+stable: @alice/tags@1.0.0"
    listed = author.run("dist-tag", "ls", "@alice/tags")
    assert listed.stdout.split("\n")[:2] == ["latest: 1.1.0", "stable: 1.0.0"]
    consumer, _ = installed(live, tmp_path / "consumer", tokens.alice, "@alice/tags@stable")
    assert consumer.installed_version("@alice/tags") == "1.0.0"

    removed = author.run("dist-tag", "rm", "@alice/tags", "stable")
    assert removed.returncode == 0, removed.output
    assert removed.stdout.strip() == "-stable: @alice/tags@1.0.0"
    assert author.run("dist-tag", "ls", "@alice/tags").stdout.strip() == "latest: 1.1.0"

    latest = author.run("dist-tag", "rm", "@alice/tags", "latest")
    assert latest.returncode != 0
    assert "the latest tag cannot be removed; point it at another version instead" in latest.output


def test_deprecate_then_undeprecate(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/old", "1.0.0")
    published(author, "@alice/old", "1.1.0")

    deprecated = author.run("deprecate", "@alice/old@1.0.0", "use 1.1.0 instead")
    assert deprecated.returncode == 0, deprecated.output
    assert author.run("view", "@alice/old@1.0.0", "deprecated").stdout.strip() == "use 1.1.0 instead"
    assert author.run("view", "@alice/old@1.1.0", "deprecated").stdout.strip() == ""
    _, install = installed(live, tmp_path / "warned", tokens.alice, "@alice/old@1.0.0")
    assert "npm warn deprecated @alice/old@1.0.0: use 1.1.0 instead" in install.output

    undeprecated = author.run("deprecate", "@alice/old@1.0.0", "")
    assert undeprecated.returncode == 0, undeprecated.output
    assert author.run("view", "@alice/old@1.0.0", "deprecated").stdout.strip() == ""
    _, install = installed(live, tmp_path / "quiet", tokens.alice, "@alice/old@1.0.0")
    assert "deprecated" not in install.output
    with live.db():
        rows = PackageVersion.select().join(Package).where(Package.name == "@alice/old")
        assert all("deprecated" not in json.loads(row.metadata) for row in rows)


# ---- unpublish -----------------------------------------------------------------------------------------


def test_unpublish_a_version(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/gone", "1.0.0")
    published(author, "@alice/gone", "1.1.0")
    assert get(live, "@alice/gone/-/gone-1.1.0.tgz", tokens.alice).status_code == 200

    result = author.run("unpublish", "@alice/gone@1.1.0")
    assert result.returncode == 0, result.output
    assert result.stdout.strip() == "- @alice/gone@1.1.0"

    versions = author.run("view", "@alice/gone", "versions", "--json")
    assert json.loads(versions.stdout) == ["1.0.0"]
    document = packument(live, "@alice/gone", tokens.alice)
    assert list(document["versions"]) == ["1.0.0"]
    assert document["dist-tags"] == {"latest": "1.0.0"}
    message = npm_error(get(live, "@alice/gone/-/gone-1.1.0.tgz", tokens.alice), 404)
    assert message == "@alice/gone has no file gone-1.1.0.tgz"
    assert get(live, "@alice/gone/-/gone-1.0.0.tgz", tokens.alice).status_code == 200
    with live.db():
        rows = {v.version: v for v in PackageVersion.select().join(Package).where(Package.name == "@alice/gone")}
        assert rows["1.1.0"].deleted_at is not None and rows["1.0.0"].deleted_at is None
        event = AuditEvent.get(AuditEvent.action == "package_version.delete",
                               AuditEvent.target == "npm:@alice/gone@1.1.0")
        assert event.actor_login == "alice"

    # An unpublished version's number is not free again.
    again = publish(author, "@alice/gone", "1.1.0")
    assert again.returncode != 0
    assert "@alice/gone@1.1.0 already exists: versions cannot be replaced" in again.output


def test_unpublish_the_whole_package(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/doomed", "1.0.0")
    published(author, "@alice/doomed", "1.1.0")

    result = author.run("unpublish", "@alice/doomed", "--force")
    assert result.returncode == 0, result.output
    assert result.stdout.strip() == "- @alice/doomed"

    assert npm_error(get(live, escaped("@alice/doomed"), tokens.alice), 404) == "not found"
    assert npm_error(get(live, "@alice/doomed/-/doomed-1.0.0.tgz", tokens.alice), 404) == "not found"
    view = author.run("view", "@alice/doomed")
    assert view.returncode != 0 and "npm error 404 NOT FOUND - GET" in view.output
    with live.db():
        package = Package.get(Package.name == "@alice/doomed")
        assert package.deleted_at is not None
        event = AuditEvent.get(AuditEvent.action == "package.delete", AuditEvent.target == "npm:@alice/doomed")
        assert event.actor_login == "alice"


def test_a_read_write_token_cannot_unpublish(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/kept", "1.0.0")
    published(author, "@alice/kept", "1.1.0")
    before = stored(live), packument(live, "@alice/kept", tokens.alice)
    writer = npm(live, tmp_path / "writer", tokens.alice_read_write)

    for args in (["unpublish", "@alice/kept@1.1.0"], ["unpublish", "@alice/kept", "--force"]):
        result = writer.run(*args)
        assert result.returncode != 0
        assert "npm error code E403" in result.output
        assert "403 FORBIDDEN - " in result.output and LACKS_DELETE in result.output, result.output
    assert (stored(live), packument(live, "@alice/kept", tokens.alice)) == before


# ---- whoami, ping, search ------------------------------------------------------------------------------


def test_whoami_and_ping(live, tokens, tmp_path):
    alice = npm(live, tmp_path / "alice", tokens.alice)
    whoami = alice.run("whoami")
    assert (whoami.returncode, whoami.stdout.strip()) == (0, "alice")
    ping = alice.run("ping")
    assert ping.returncode == 0, ping.output
    assert f"npm notice PING {registry(live)}" in ping.output
    assert "npm notice PONG" in ping.output


def test_search_finds_by_part_of_the_name_and_hides_private_packages(live, tokens, tmp_path):
    alice = npm(live, tmp_path / "alice", tokens.alice)
    published(alice, "@alice/needle-in-haystack", "1.0.0", description="findable")
    bob = npm(live, tmp_path / "bob", tokens.bob, scope="bob")
    published(bob, "@bob/needle-secret", "1.0.0", repository="bob/secret")

    def found(searcher: Npm) -> dict[str, dict]:
        result = searcher.run("search", "needle", "--json")
        assert result.returncode == 0, result.output
        return {entry["name"]: entry for entry in json.loads(result.stdout)}

    by_alice = found(alice)
    assert "@alice/needle-in-haystack" in by_alice
    assert by_alice["@alice/needle-in-haystack"]["description"] == "findable"
    assert by_alice["@alice/needle-in-haystack"]["version"] == "1.0.0"
    assert "@bob/needle-secret" not in by_alice
    assert set(found(bob)) >= {"@alice/needle-in-haystack", "@bob/needle-secret"}
    human = alice.run("search", "in-hay")
    assert human.stdout.startswith("@alice/needle-in-haystack\nfindable\n"), human.output


def test_search_ranks_the_name_then_keywords_then_the_description(live, tokens, tmp_path):
    alice = npm(live, tmp_path / "alice", tokens.alice)
    published(alice, "@alice/has-zebrafish-in-its-description", "1.0.0", description="for the zebrafish lab")
    published(alice, "@alice/keyword-holder", "1.0.0", description="nothing here", keywords=["zebrafish", "x"])
    published(alice, "@alice/zebrafish-tools", "1.0.0", description="tools")
    published(alice, "@alice/zebrafish", "1.0.0", description="the one")
    bob = npm(live, tmp_path / "bob", tokens.bob, scope="bob")
    published(bob, "@bob/zebrafish-private", "1.0.0", repository="bob/secret", description="zebrafish")

    result = alice.run("search", "zebrafish", "--json")
    assert result.returncode == 0, result.output
    assert [entry["name"] for entry in json.loads(result.stdout)] == [
        "@alice/zebrafish", "@alice/zebrafish-tools", "@alice/has-zebrafish-in-its-description",
        "@alice/keyword-holder"]
    # Keywords count as whole words, above a description; every word must stand somewhere.
    words = alice.run("search", "zebrafish", "lab", "--json")
    assert [entry["name"] for entry in json.loads(words.stdout)] == ["@alice/has-zebrafish-in-its-description"]
    by_keyword = alice.run("search", "x", "--json")
    assert next(entry["name"] for entry in json.loads(by_keyword.stdout)) == "@alice/keyword-holder"
    assert "@bob/zebrafish-private" in [e["name"] for e in json.loads(
        npm(live, tmp_path / "bob2", tokens.bob, scope="bob").run("search", "zebrafish", "--json").stdout)]


@pytest.mark.parametrize(("query", "message"), [
    ("text=a&size=lots", "size must be a whole number, not 'lots'"),
    ("text=a&from=-1", "from must be a whole number, not '-1'"),
    ("text=" + "a" * 1001, "the search text is longer than 1000 characters"),
])
def test_hostile_search_parameters_are_refused(live, tokens, query, message):
    assert npm_error(get(live, f"-/v1/search?{query}", tokens.alice), 400) == message


def test_search_pages_with_size_and_from(live, tokens, tmp_path):
    alice = npm(live, tmp_path / "alice", tokens.alice)
    for number in range(3):
        published(alice, f"@alice/paged-{number}", "1.0.0")
    pages = [get(live, f"-/v1/search?text=paged&size=2&from={start}", tokens.alice).json() for start in (0, 2)]
    assert [page["total"] for page in pages] == [3, 3]
    names = [o["package"]["name"] for page in pages for o in page["objects"]]
    assert sorted(names) == ["@alice/paged-0", "@alice/paged-1", "@alice/paged-2"]


# ---- downloads and revalidation ------------------------------------------------------------------------


def test_downloads_are_counted_per_version_and_day(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/counted", "1.0.0")
    published(author, "@alice/counted", "1.1.0")
    first_day = dt.datetime.now(dt.UTC).date()
    for project, spec in [("one", "@alice/counted@1.0.0"), ("two", "@alice/counted@1.0.0"),
                          ("three", "@alice/counted@1.1.0")]:
        installed(live, tmp_path / project, tokens.alice, spec)
    last_day = dt.datetime.now(dt.UTC).date()

    with live.db():
        rows = (DownloadCount.select(DownloadCount, PackageVersion).join(PackageVersion).join(Package)
                .where(Package.name == "@alice/counted"))
        counts = {(row.version.version, row.day): row.count for row in rows}
    day = next(iter(counts))[1] if counts else None
    assert day in (first_day, last_day)
    assert counts == {("1.0.0", day): 2, ("1.1.0", day): 1}


def test_packument_revalidates_with_its_etag(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/cached", "1.0.0")
    path = escaped("@alice/cached")

    full = get(live, path, tokens.alice)
    etag = full.headers["ETag"]
    not_modified = get(live, path, tokens.alice, headers={"If-None-Match": etag})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert not_modified.headers["ETag"] == etag
    abbreviated = get(live, path, tokens.alice, headers={"Accept": INSTALL_ACCEPT})
    assert abbreviated.headers["ETag"] != etag
    again = get(live, path, tokens.alice, headers={"Accept": INSTALL_ACCEPT,
                                                   "If-None-Match": abbreviated.headers["ETag"]})
    assert again.status_code == 304

    assert author.run("dist-tag", "add", "@alice/cached@1.0.0", "stable").returncode == 0
    changed = get(live, path, tokens.alice, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.json()["dist-tags"] == {"latest": "1.0.0", "stable": "1.0.0"}


# ---- linking to a repository ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "repository"), [
    ("@alice/linked-shorthand", "alice/other-repo"),
    ("@alice/linked-url", {"type": "git", "url": "git+https://appliance.test/alice/other-repo.git"}),
])
def test_repository_field_links_the_package(live, tokens, tmp_path, name, repository):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, name, "1.0.0", repository=repository)
    with live.db():
        package = Package.get(Package.name == name)
        assert package.repository.full_name == "alice/other-repo"


@pytest.mark.parametrize(("name", "repository", "message"), [
    ("@alice/orphan", None,
     ('no repository to link this package to: name a repository of alice ("repository": "alice/REPO" in '
     'package.json) or create the repository alice/orphan')),
    ("@alice/misnamed", "alice/nowhere",
     ("the package names the repository alice/nowhere, which does not exist: create it or name an existing "
     'repository of alice ("repository": "alice/REPO" in package.json)')),
    ("@alice/elsewhere", "bob/public-stuff",
     ("package.json names the repository bob/public-stuff, but a package of alice belongs to a repository of "
     'alice: name a repository of alice ("repository": "alice/REPO")')),
])
def test_a_package_without_a_usable_repository_is_refused(live, tokens, tmp_path, name, repository, message):
    author = npm(live, tmp_path / "author", tokens.alice)
    before = stored(live)
    result = publish(author, name, "1.0.0", repository=repository)
    assert result.returncode != 0
    assert f"npm error 400 BAD REQUEST - PUT {registry(live)}{escaped(name)} - {message}" in result.output, \
        result.output
    assert stored(live) == before


# ---- both URL layouts, and settings that apply at once -------------------------------------------------


@dataclass
class Isolated:
    """An appliance with subdomain isolation on, and npm that resolves its host names to it."""

    live: LiveAppliance
    hosts_file: Path
    token: str

    @property
    def registry(self) -> str:
        return f"http://npm.{ISOLATED_HOSTNAME}:{self.live.port}/"

    @property
    def path_registry(self) -> str:
        return f"http://{ISOLATED_HOSTNAME}:{self.live.port}/_registry/npm/"

    def npm(self, workdir: Path, registry_url: str | None = None) -> Npm:
        return Npm(workdir, registry_url or self.registry, "alice", self.token, hosts_file=self.hosts_file)

    def get(self, host: str, path: str) -> requests.Response:
        return requests.get(f"{self.live.origin}{path}", timeout=30, headers={
            "Host": f"{host}:{self.live.port}", "Authorization": f"Bearer {self.token}"})


@pytest.fixture(scope="module")
def isolated(tmp_path_factory) -> Iterator[Isolated]:
    if os.geteuid() != 0:
        pytest.skip("resolving npm.appliance.test for npm alone needs a mount namespace: run as root")
    require_client("unshare")
    root = tmp_path_factory.mktemp("isolated")
    appliance = LiveAppliance(root / "home")
    appliance.set("hostname", ISOLATED_HOSTNAME)
    appliance.set("subdomain_isolation", True)
    appliance.user("alice")
    appliance.repo(REPOSITORY)
    hosts_file = root / "hosts"
    hosts_file.write_text(f"127.0.0.1 localhost\n127.0.0.1 {ISOLATED_HOSTNAME} npm.{ISOLATED_HOSTNAME}\n")
    appliance.start()
    try:
        yield Isolated(appliance, hosts_file, appliance.token("alice", FULL_SCOPES))
    finally:
        appliance.stop()


def test_subdomain_layout_publish_and_install(isolated, tmp_path):
    author = isolated.npm(tmp_path / "author")
    author.write_package("@alice/sub", "1.0.0", repository=REPOSITORY)
    result = author.run("publish")
    assert result.returncode == 0, result.output
    assert f"Publishing to {isolated.registry} with tag latest" in result.output

    consumer = isolated.npm(tmp_path / "consumer")
    consumer.write_consumer()
    install = consumer.run("install", "@alice/sub")
    assert install.returncode == 0, install.output
    assert consumer.installed_version("@alice/sub") == "1.0.0"
    lock = json.loads((consumer.workdir / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@alice/sub"]["resolved"] == f"{isolated.registry}@alice/sub/-/sub-1.0.0.tgz"


def test_path_layout_keeps_answering_while_isolation_is_on(isolated):
    # Configured URLs survive toggling isolation: the path layout answers in both settings.
    assert isolated.get(ISOLATED_HOSTNAME, "/_registry/npm/-/ping").status_code == 200
    assert npm_error(isolated.get(ISOLATED_HOSTNAME, "/_registry/npm/-/no-such-endpoint"), 404) == "not found"
    assert isolated.get(f"npm.{ISOLATED_HOSTNAME}", "/-/ping").status_code == 200


def test_subdomain_isolation_flips_in_the_running_server(isolated, tmp_path):
    server = isolated.live.process.pid
    config_set(isolated.live, "subdomain_isolation", "false")
    try:
        assert isolated.get(ISOLATED_HOSTNAME, "/_registry/npm/-/ping").status_code == 200
        message = npm_error(isolated.get(f"npm.{ISOLATED_HOSTNAME}", "/-/ping"), 404)
        assert message == f"the npm registry is served at {isolated.path_registry} (subdomain isolation is off)"
        viewer = isolated.npm(tmp_path / "viewer", isolated.path_registry)
        ping = viewer.run("ping")
        assert ping.returncode == 0, ping.output
    finally:
        config_set(isolated.live, "subdomain_isolation", "true")
    assert isolated.get(ISOLATED_HOSTNAME, "/_registry/npm/-/ping").status_code == 200
    assert isolated.get(f"npm.{ISOLATED_HOSTNAME}", "/-/ping").status_code == 200
    assert isolated.live.process.pid == server and isolated.live.process.poll() is None


def test_disabling_npm_takes_effect_at_once(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", tokens.alice)
    published(author, "@alice/switched", "1.0.0")
    with setting(live, "formats.npm.enabled", False, restore=True):
        view = author.run("view", "@alice/switched", "version")
        assert view.returncode != 0
        assert "403 FORBIDDEN - GET" in view.output, view.output
        # not a 404: the client is told the registry is switched off, by whom, and whom to ask
        assert "the npm registry is switched off on this appliance by its site administrators" in view.output
        assert "ask the site administrators and give them request id" in view.output, view.output
        for path in ("-/ping", escaped("@alice/switched"), "-/no-such-endpoint"):
            assert "switched off" in npm_error(get(live, path, tokens.alice), 403)
    view = author.run("view", "@alice/switched", "version")
    assert (view.returncode, view.stdout.strip()) == (0, "1.0.0")


# ---- bad input: refused in npm's shape, nothing left behind --------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    (b'{"name": "@alice/bad", "versions": ', "the request body ended before the JSON document did"),
    (b'{"name": "@alice/bad",, }', "the request body is not valid JSON"),
    (b"", "the request body is empty; expected a JSON package document"),
])
def test_malformed_json_is_refused(live, tokens, body, message):
    before = stored(live)
    response = put(live, escaped("@alice/bad"), tokens.alice, data=body)
    assert npm_error(response, 400).startswith(message)
    assert stored(live) == before


@pytest.mark.parametrize("body", [b"[1, 2]", b'"@alice/bad"', b"null", b"42"])
def test_a_body_that_is_not_an_object_is_refused(live, tokens, body):
    before = stored(live)
    response = put(live, escaped("@alice/bad"), tokens.alice, data=body)
    assert npm_error(response, 400) == "the request body must be a JSON object (the package document)"
    assert stored(live) == before


def test_a_package_name_outside_its_scope_is_refused(live, tokens):
    before = stored(live)
    response = put(live, escaped("@alice/scoped"), tokens.alice, json=publish_document("@bob/scoped", "1.0.0"))
    assert npm_error(response, 400) == "the document is for package '@bob/scoped' but was sent to '@alice/scoped'"
    unscoped = put(live, "unscoped", tokens.alice, json=publish_document("@alice/unscoped", "1.0.0"))
    assert npm_error(unscoped, 400) == "packages on this registry are scoped: @OWNER/NAME, not 'unscoped'"
    assert stored(live) == before


def test_a_scope_that_names_no_owner_is_refused(live, tokens, tmp_path):
    before = stored(live)
    author = npm(live, tmp_path / "author", tokens.alice, scope="nobody-here")
    result = publish(author, "@nobody-here/thing", "1.0.0", repository=None)
    assert result.returncode != 0
    # Whether an owner exists is not told to who may not publish there: the answer for a package nobody
    # may see.
    assert f"npm error 404 NOT FOUND - PUT {registry(live)}{escaped('@nobody-here/thing')} - not found" \
        in result.output, result.output
    assert stored(live) == before


@pytest.mark.parametrize("lie", ["sha512", "shasum"])
def test_a_tarball_that_does_not_match_its_integrity_is_refused(live, tokens, lie):
    before = stored(live)
    claims = {"sha512": {"sha512": hashlib.sha512(b"other bytes").digest()},
              "shasum": {"shasum": hashlib.sha1(b"other bytes").hexdigest()}}[lie]
    document = publish_document("@alice/liar", "1.0.0", **claims)
    message = npm_error(put(live, escaped("@alice/liar"), tokens.alice, json=document), 400)
    algorithm = {"sha512": "sha512", "shasum": "sha1"}[lie]
    assert message.startswith(f"liar-1.0.0.tgz does not match its checksum: {algorithm} of the upload is "), message
    assert stored(live) == before


def raw_request(live: LiveAppliance, method: str, path: str, token: str, body: bytes) -> tuple[
        http.client.HTTPResponse, bytes]:
    """A request whose path goes out exactly as written (requests would resolve the dot segments)."""
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(("path", "message"), [
    ("/_registry/npm/@alice/../x", "package name '@alice/..': '..' must not start with '.' or '_'"),
    ("/_registry/npm/@alice%2f..%2fx", "package name '@alice/..': '..' must not start with '.' or '_'"),
    ("/_registry/npm/@alice/%2e%2e", "package name '@alice/..': '..' must not start with '.' or '_'"),
    ("/_registry/npm/@alice%2f%2e%2e", "package name '@alice/..': '..' must not start with '.' or '_'"),
    ("/_registry/npm/@alice/..%2f..%2fetc", "package name '@alice/..': '..' must not start with '.' or '_'"),
    ("/_registry/npm/@..%2falice", "package name '@../alice': '..' must not start with '.' or '_'"),
])
def test_path_tricks_in_package_names_are_refused(live, tokens, path, message):
    before = stored(live)
    body = json.dumps(publish_document("@alice/x", "1.0.0")).encode()
    response, content = raw_request(live, "PUT", path, tokens.alice, body)
    assert npm_error(response, 400, content) == message
    assert stored(live) == before
    assert not list(live.home.parent.rglob("x-1.0.0.tgz"))


@pytest.mark.parametrize("attachment", [
    "../../evil.tgz", "@alice/att-1.0.0.tgz/../../../evil.tgz", "/tmp/evil.tgz", "%2e%2e%2fevil.tgz",
    "@alice/att-1.0.0.tgz\x00evil",
])
def test_path_tricks_in_attachment_names_are_refused(live, tokens, attachment):
    before = stored(live)
    document = publish_document("@alice/att", "1.0.0", attachment=attachment)
    message = npm_error(put(live, escaped("@alice/att"), tokens.alice, json=document), 400)
    assert message == f"the tarball is attached as {attachment!r}, expected '@alice/att-1.0.0.tgz'"
    assert stored(live) == before
    assert not [p for p in live.home.parent.rglob("*") if "evil" in p.name]


@pytest.fixture
def small_limit(live) -> Iterator[int]:
    """max_upload_bytes of 1000, and the request body limit the publish endpoint derives from it."""
    with setting(live, "max_upload_bytes", 1000, restore=2 * 1024**3):
        yield int(1000 * BASE64_OVERHEAD) + DOCUMENT_ALLOWANCE


def test_a_package_over_the_limit_is_refused_through_npm(live, tokens, tmp_path, small_limit):
    before = stored(live)
    author = npm(live, tmp_path / "author", tokens.alice)
    author.write_package("@alice/heavy", "1.0.0", repository=REPOSITORY)
    (author.workdir / "blob.bin").write_bytes(os.urandom(4000))  # does not compress below the limit
    result = author.run("publish")
    assert result.returncode != 0
    assert "npm error code E413" in result.output
    assert (f"413 REQUEST ENTITY TOO LARGE - PUT {registry(live)}{escaped('@alice/heavy')} - heavy-1.0.0.tgz is "
            "larger than this appliance accepts (1000 bytes)") in result.output, result.output
    assert stored(live) == before


def test_a_chunked_publish_whose_tarball_grows_past_the_limit_is_refused(live, tokens, small_limit):
    before = stored(live)
    body = json.dumps(publish_document("@alice/heavy-chunked", "1.0.0",
                                       data=tarball_of("@alice/heavy-chunked", "1.0.0", os.urandom(4000))))

    def chunks() -> Iterator[bytes]:  # a generator: requests sends it chunked, without a length
        for start in range(0, len(body), 1000):
            yield body[start:start + 1000].encode()

    response = put(live, escaped("@alice/heavy-chunked"), tokens.alice, data=chunks())
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert npm_error(response, 413) == "heavy-chunked-1.0.0.tgz is larger than this appliance accepts (1000 bytes)"
    assert stored(live) == before


def send_raw(live: LiveAppliance, head: str, pieces: Iterator[bytes]) -> tuple[http.client.HTTPResponse, bytes]:
    """Send a request head and body pieces on a socket, then read the answer (the appliance may answer
    before the body is complete, and close the connection on what it did not read)."""
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    try:
        sock.sendall(head.encode())
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for piece in pieces:
                sock.sendall(piece)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response, response.read()
    finally:
        sock.close()


def publish_head(live: LiveAppliance, token: str, name: str, framing: str) -> str:
    return (f"PUT /_registry/npm/{escaped(name)} HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n")


def test_a_declared_length_over_the_limit_is_refused_before_the_body(live, tokens, small_limit):
    before = stored(live)
    head = publish_head(live, tokens.alice, "@alice/huge", f"Content-Length: {small_limit + 1}")
    # Only the first bytes are sent: the answer must come without waiting for the rest.
    response, content = send_raw(live, head, iter([b'{"name": "@alice/huge", ']))
    assert npm_error(response, 413, content) == (f"the publish request is {small_limit + 1} bytes; this "
                                                 f"appliance accepts up to {small_limit}")
    assert stored(live) == before


def test_a_chunked_body_growing_past_the_limit_is_cut_off(live, tokens, small_limit):
    before = stored(live)
    head = publish_head(live, tokens.alice, "@alice/endless", "Transfer-Encoding: chunked")

    def pieces() -> Iterator[bytes]:
        opening = b'{"name": "@alice/endless", "_attachments": {"@alice/endless-1.0.0.tgz": {"data": "'
        yield b"%x\r\n%s\r\n" % (len(opening), opening)
        sent, piece = len(opening), b"QUFB" * (1 << 18)  # 1 MiB of valid base64 at a time
        while sent <= small_limit:
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
            sent += len(piece)

    response, content = send_raw(live, head, pieces())
    assert npm_error(response, 413, content) == (f"the publish request is larger than this appliance accepts "
                                                 f"({small_limit} bytes)")
    assert stored(live) == before


def test_a_missing_token_is_challenged(live, tokens):
    before = stored(live)
    response = put(live, escaped("@alice/anonymous"), None, json=publish_document("@alice/anonymous", "1.0.0"))
    message = npm_error(response, 401)
    assert response.headers["WWW-Authenticate"]  # the challenge clients that wait for one need
    assert message.startswith("authentication required: add `//HOST/:_authToken=TOKEN`")
    whoami = get(live, "-/whoami", None)
    assert "_authToken" in npm_error(whoami, 401) and "WWW-Authenticate" in whoami.headers
    assert stored(live) == before


def test_a_wrong_token_is_refused(live, tokens, tmp_path):
    before = stored(live)
    wrong = "apt_" + "x" * 40
    author = npm(live, tmp_path / "author", wrong)
    result = publish(author, "@alice/wrong-token", "1.0.0")
    assert result.returncode != 0
    assert "npm error code E401" in result.output
    assert author.run("whoami").returncode != 0
    response = put(live, escaped("@alice/wrong-token"), wrong, json=publish_document("@alice/wrong-token", "1.0.0"))
    assert npm_error(response, 401) == ("bad credentials: the token is unknown, expired or revoked: check the "
                                        "_authToken for this registry in your .npmrc")
    assert stored(live) == before


@pytest.mark.xfail(strict=True, reason=(
    "npm never prints the body of a 401 that carries a WWW-Authenticate challenge: under Basic it prints "
    "npmjs.com password advice, under Bearer 'npm login', under any other scheme 'Unable to authenticate, "
    "need: <the challenge>'; the appliance's message reaches only npm's debug log"))
def test_npm_prints_the_appliances_message_for_a_wrong_token(live, tokens, tmp_path):
    author = npm(live, tmp_path / "author", "apt_" + "y" * 40)
    result = publish(author, "@alice/wrong-token-message", "1.0.0")
    assert "bad credentials: the token is unknown, expired or revoked" in result.output, result.output

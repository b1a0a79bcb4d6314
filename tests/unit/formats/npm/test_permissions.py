"""Who may do what with npm packages: every npm endpoint, for every kind of actor, on a public, a private
and an internal repository, with `anonymous_read` on and off, in-process (Flask's test client, the
headers npm sends). tests/clients/test_npm_permissions.py runs the real npm client's cells and a sample of
these through gunicorn, with the same World.

The expected answers are DESIGN.md's "Who may do what" (tests/support/permission_matrix.py) for the cells
of each endpoint's action, and the tables below for the endpoints that name no package.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import hashlib
import io
import itertools
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest
import requests

from appliance import create_app
from appliance.accounts.service import get_repository, get_user
from appliance.auth.tokens import hash_secret, issue_token
from appliance.models.accounts import Account
from appliance.models.audit import AuditEvent
from appliance.models.base import utcnow
from appliance.models.packages import Blob, Package, PackageFile, PackageTag, PackageVersion
from appliance.models.tokens import Token
from appliance.storage.blobs import blob_path
from tests.support.live import LiveAppliance
from tests.support.permission_matrix import MATRIX as DESIGN_MATRIX
from tests.support.permission_matrix import InProcess

ABBREVIATED = "application/vnd.npm.install-v1+json"
FULL_SCOPES = "read:packages,write:packages,delete:packages,repo"
ORG = "acme"
REPOSITORIES = {"public": "acme/perm-public", "private": "acme/perm-private", "internal": "acme/perm-internal"}
ELSEWHERE = "acme/perm-elsewhere"  # where the job token of `job-other` belongs
VISIBILITIES = tuple(REPOSITORIES)
MISSING_PACKAGE = "@acme/no-such-package"
MISSING_OWNER_PACKAGE = "@no-such-owner/no-such-package"
MISSING_REPOSITORY = "acme/perm-nowhere"

# Every row, and how its credentials are made (see `world`):
ACTORS = {
    "anonymous": "no token at all",
    "no-scopes": "maint (admin collaborator) with a token that has no scopes",
    "read-token": "maint with read:packages",
    "write-token": "maint with write:packages",
    "delete-token": "maint with delete:packages,read:packages,repo",
    "stranger": "a user with a full token and no role on acme's repositories",
    "collab-read": "a collaborator with role read, full token",
    "collab-write": "a collaborator with role write, full token",
    "collab-admin": "a collaborator with role admin, full token",
    "org-owner": "an owner of the organization acme, full token",
    "site-admin": "a site administrator, full token",
    "job-own": "maint's full job token for the repository of the column",
    "job-other": f"maint's full job token for {ELSEWHERE}",
    "expired": "maint's full token, expired an hour ago",
    "revoked": "maint's full token, revoked",
    "suspended": "a suspended admin collaborator's full token",
    "unknown-token": "a token the appliance never issued",
}

# R: install, view (read endpoints), W: publish, deprecate, dist-tags (write), D: unpublish (delete).
# The answers are DESIGN.md's table as tests/support/permission_matrix.py writes it out (its
# `other-owner` row belongs to the in-process matrices), read here as: ok: allowed; 401: challenge
# (with WWW-Authenticate), byte-equal to the answer for a missing package; 404: answered as if it did
# not exist, byte-equal to the answer for a package that does not exist (for a publish: 400, as for
# naming a repository that does not exist); 403s: refused, naming the missing scope; 403r: refused,
# naming the missing repository role.

# Endpoints that name no package. search: the visibilities whose package the results show.
GLOBAL_MATRIX = """
actor           whoami  ping  search(anonymous_read on)  search(anonymous_read off)
anonymous       401     ok    public                     -
no-scopes       ok      ok    -                          -
read-token      ok      ok    public,private,internal    public,private,internal
write-token     ok      ok    public,private,internal    public,private,internal
delete-token    ok      ok    public,private,internal    public,private,internal
stranger        ok      ok    public,internal            public,internal
collab-read     ok      ok    public,private,internal    public,private,internal
collab-write    ok      ok    public,private,internal    public,private,internal
collab-admin    ok      ok    public,private,internal    public,private,internal
org-owner       ok      ok    public,private,internal    public,private,internal
site-admin      ok      ok    public,private,internal    public,private,internal
job-own         ok      ok    public,private,internal    public,private,internal
job-other       ok      ok    public,internal            public,internal
expired         401     401   401                        401
revoked         401     401   401                        401
suspended       401     401   401                        401
unknown-token   401     401   401                        401
"""
# job-own in GLOBAL_MATRIX is maint's job token for the private repository.
GLOBAL_JOB_VISIBILITY = "private"

ACTIONS = ("R", "W", "D")
SCOPE_NAMED = {"R": ("read:packages",), "W": ("write:packages",), "D": ("delete:packages", "read:packages", "repo")}
ROLE_NAMED = {"W": "write", "D": "admin"}


def parse_global_matrix(text: str) -> dict[str, tuple[str, str, dict[bool, str]]]:
    lines = [line.split() for line in text.strip().splitlines()]
    assert [row[0] for row in lines[1:]] == list(ACTORS)
    return {actor: (whoami, ping, {True: on, False: off}) for actor, whoami, ping, on, off in lines[1:]}


MATRIX = {on: {cell: code for cell, code in cells.items() if cell[0] in ACTORS}
          for on, cells in DESIGN_MATRIX.items()}
GLOBAL = parse_global_matrix(GLOBAL_MATRIX)


# ---- the appliance's data ----------------------------------------------------------------------------


def escaped(name: str) -> str:
    """How npm writes a scoped name in a URL path."""
    return name.replace("/", "%2f")


def short_name(name: str) -> str:
    return name.split("/", 1)[1]


def tarball_of(name: str, version: str) -> bytes:
    """A real npm tarball; its content is unique to (name, version), so no blob is ever shared."""
    manifest = json.dumps({"name": name, "version": version}).encode()
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("package/package.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return buffer.getvalue()


def publish_document(name: str, version: str, repository: str, tags: dict[str, str] | None = None) -> dict:
    """What `npm publish` sends: the manifest with its dist, and the tarball as a base64 attachment."""
    data = tarball_of(name, version)
    manifest = {
        "name": name, "version": version, "description": f"{name} for the permission matrix",
        "repository": repository,
        "dist": {"shasum": hashlib.sha1(data).hexdigest(),
                 "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                 "tarball": f"http://npm.invalid/{name}/-/{short_name(name)}-{version}.tgz"},
    }
    return {
        "_id": name, "name": name, "dist-tags": tags or {"latest": version},
        "versions": {version: manifest},
        "_attachments": {f"{name}-{version}.tgz": {"content_type": "application/octet-stream",
                                                   "data": base64.b64encode(data).decode(),
                                                   "length": len(data)}},
    }


class World:
    """The organization, users, repositories, tokens and packages every cell acts on."""

    def __init__(self, live: LiveAppliance, http=None, registry: str = "/_registry/npm/"):
        """`live`'s database; requests go to `http` (in this process by default, or a requests.Session
        with `registry` under a running server's origin)."""
        self.live = live
        self.registry = registry
        self.http = http or InProcess(create_app(live.bootstrap).test_client())
        self.counter = itertools.count()
        live.user("boss")
        live.org(ORG, "boss")
        for login in ("maint", "stranger", "reader", "writer", "keeper", "gone"):
            live.user(login)
        live.user("root", site_admin=True)
        for visibility, full_name in [*REPOSITORIES.items(), ("private", ELSEWHERE)]:
            live.repo(full_name, visibility)
            live.grant(full_name, "maint", "admin")
            live.grant(full_name, "gone", "admin")
        for full_name in REPOSITORIES.values():
            live.grant(full_name, "reader", "read")
            live.grant(full_name, "writer", "write")
            live.grant(full_name, "keeper", "admin")
        self.root = live.token("root", FULL_SCOPES)
        revoked = live.token("maint", FULL_SCOPES)
        suspended = live.token("gone", FULL_SCOPES)
        with live.db():
            Token.update(revoked_at=utcnow()).where(Token.token_hash == hash_secret(revoked)).execute()
            Account.update(suspended=True).where(Account.lower_login == "gone").execute()
            job = {full_name: issue_token(get_user("maint"), FULL_SCOPES.split(","),
                                          repository=get_repository(full_name))[1]
                   for full_name in [*REPOSITORIES.values(), ELSEWHERE]}
        self.tokens: dict[str, str | None] = {
            "anonymous": None,
            "no-scopes": live.token("maint", ""),
            "read-token": live.token("maint", "read:packages"),
            "write-token": live.token("maint", "write:packages"),
            "delete-token": live.token("maint", "delete:packages,read:packages,repo"),
            "stranger": live.token("stranger", FULL_SCOPES),
            "collab-read": live.token("reader", FULL_SCOPES),
            "collab-write": live.token("writer", FULL_SCOPES),
            "collab-admin": live.token("keeper", FULL_SCOPES),
            "org-owner": live.token("boss", FULL_SCOPES),
            "site-admin": self.root,
            "job-other": job[ELSEWHERE],
            "expired": live.token("maint", FULL_SCOPES, expires_in=-dt.timedelta(hours=1)),
            "revoked": revoked,
            "suspended": suspended,
            "unknown-token": "apt_" + "x" * 40,
        }
        self.job_tokens = {visibility: job[full_name] for visibility, full_name in REPOSITORIES.items()}
        # One package per visibility that read cells share; nothing writes to them.
        self.shared = {visibility: f"@{ORG}/shared-{visibility}" for visibility in VISIBILITIES}
        for visibility, name in self.shared.items():
            self.publish(name, "1.0.0", visibility)

    def token(self, actor: str, visibility: str) -> str | None:
        return self.job_tokens[visibility] if actor == "job-own" else self.tokens[actor]

    # ---- requests ----

    def request(self, method: str, path: str, token: str | None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.registry + path, headers=headers, timeout=30, **kwargs)

    def publish(self, name: str, version: str, visibility: str, token: str | None = None,
                tags: dict[str, str] | None = None) -> requests.Response:
        document = publish_document(name, version, REPOSITORIES[visibility], tags)
        response = self.request("PUT", escaped(name), self.root if token is None else token, json=document)
        if token is None:
            assert response.status_code == 201, response.text
        return response

    def fresh_package(self, visibility: str) -> str:
        """A package of its own for one cell: 1.0.0 (tagged beta) and 1.1.0 (latest)."""
        name = f"@{ORG}/cell-{next(self.counter)}"
        self.publish(name, "1.0.0", visibility, tags={"latest": "1.0.0", "beta": "1.0.0"})
        self.publish(name, "1.1.0", visibility)
        return name

    def new_name(self) -> str:
        return f"@{ORG}/new-{next(self.counter)}"

    def packument(self, name: str) -> dict:
        """The full packument as npm fetches it before changing it (`?write=true`)."""
        response = self.request("GET", escaped(name), self.root, params={"write": "true"})
        assert response.status_code == 200, response.text
        return response.json()

    def unpublish_as_npm(self, name: str, version: str, token: str | None) -> requests.Response:
        """`npm unpublish NAME@VERSION` of a version that is not the only one: the packument sent back."""
        document = self.packument(name)
        del document["versions"][version]
        tags = document["dist-tags"]
        latest = tags.get("latest")
        for tag in [t for t, v in tags.items() if v == version]:
            del tags[tag]
        if latest == version:
            tags["latest"] = max(document["versions"], key=lambda v: tuple(int(p) for p in v.split(".")))
        return self.request("PUT", f"{escaped(name)}/-rev/{document['_rev']}", token, json=document)

    # ---- what is stored ----

    def package_state(self, name: str) -> dict:
        with self.live.db():
            return self._package_state(name)

    @staticmethod
    def _package_state(name: str) -> dict:
        package = Package.get_or_none(Package.lower_name == name.lower())
        if package is None:
            return {}
        versions = {v.version: (v.deleted_at is None, json.loads(v.metadata))
                    for v in PackageVersion.select().where(PackageVersion.package == package.id)}
        tags = {t.name: t.version.version for t in
                PackageTag.select(PackageTag, PackageVersion).join(PackageVersion)
                .where(PackageTag.package == package.id)}
        return {"deleted": package.deleted_at is not None, "repository": package.repository.full_name,
                "versions": versions, "tags": tags}

    def stored_counts(self) -> dict:
        """Rows of every table a write touches, and files in storage."""
        storage = self.live.bootstrap.storage_path
        with self.live.db():
            rows = {model.__name__: model.select().count()
                    for model in (Package, PackageVersion, PackageFile, PackageTag, Blob, AuditEvent)}
        return {"rows": rows, "uploads": sorted(p.name for p in (storage / "uploads").glob("*")),
                "blobs": sum(1 for _ in (storage / "blobs").rglob("*"))}

    def snapshot(self, name: str) -> dict:
        """What a refused write must leave as it was: the package's rows, the number of rows of every
        table a write touches, uploads in progress, and the blob file of each tarball the package has
        or a publish in these tests would add (tarballs are unique to name and version)."""
        storage = self.live.bootstrap.storage_path
        with self.live.db():
            rows = {model.__name__: model.select().count()
                    for model in (Package, PackageVersion, PackageFile, PackageTag, Blob, AuditEvent)}
            package = self._package_state(name)
        blobs = {version: (storage / blob_path(hashlib.sha256(tarball_of(name, version)).hexdigest())).exists()
                 for version in ("1.0.0", "1.1.0", "2.0.0")}
        uploads = sorted(p.name for p in (storage / "uploads").glob("*"))
        return {"package": package, "rows": rows, "blobs": blobs, "uploads": uploads}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The appliance's home and database, served in this process (no server is started)."""
    appliance = LiveAppliance(tmp_path_factory.mktemp("npm-permissions") / "home")
    appliance.set("hostname", "localhost")
    appliance.set("subdomain_isolation", False)
    return appliance


@pytest.fixture(scope="module")
def world(live) -> World:
    return World(live)


@contextlib.contextmanager
def anonymous_read(live, on: bool):
    """`anonymous_read` as the cell needs it; on is the default, and every test leaves it on."""
    if on:
        yield
        return
    live.set("anonymous_read", False)
    try:
        yield
    finally:
        live.set("anonymous_read", True)


# ---- endpoints ---------------------------------------------------------------------------------------


@dataclass
class Target:
    """What one request acts on: a package and what the endpoint needs to address it."""

    name: str
    visibility: str | None = None
    version: str = "1.0.0"
    rev: str = "1-0"
    document: dict = field(default_factory=dict)
    repository: str | None = None  # the repository a publish names, when not the column's


@dataclass(frozen=True)
class Endpoint:
    name: str
    action: str  # R, W or D
    success: int
    arrange: Callable[[World, str], Target]
    send: Callable[[World, Target, str | None], requests.Response]
    done: Callable[[World, Target, requests.Response], None]
    # The same request about something that does not exist, and how that is answered.
    missing: Callable[[Target], Target] = lambda target: replace(target, name=MISSING_PACKAGE)
    hidden_status: int = 404

    def __str__(self) -> str:
        return self.name


def shared(world: World, visibility: str) -> Target:
    return Target(world.shared[visibility], visibility)


def fresh(world: World, visibility: str) -> Target:
    return Target(world.fresh_package(visibility), visibility)


def fresh_with_packument(world: World, visibility: str) -> Target:
    target = fresh(world, visibility)
    target.document = world.packument(target.name)
    target.rev = target.document["_rev"]
    return target


def fresh_without_1_0_0(world: World, visibility: str) -> Target:
    """npm deletes a tarball after its version left the packument: that has happened here."""
    target = fresh(world, visibility)
    assert world.unpublish_as_npm(target.name, "1.0.0", world.root).status_code == 201
    target.rev = world.packument(target.name)["_rev"]
    return target


def new_package(world: World, visibility: str) -> Target:
    return Target(world.new_name(), visibility)


def check_packument(world: World, target: Target, response: requests.Response) -> None:
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert document["name"] == target.name and list(document["versions"]) == ["1.0.0"]
    assert document["_rev"].startswith("1-")


def check_abbreviated(world: World, target: Target, response: requests.Response) -> None:
    assert response.headers["Content-Type"].startswith(ABBREVIATED)
    document = response.json()
    assert document["name"] == target.name and list(document["versions"]) == ["1.0.0"]
    assert "_rev" not in document and "readme" not in document


def check_manifest(world: World, target: Target, response: requests.Response) -> None:
    manifest = response.json()
    assert (manifest["name"], manifest["version"]) == (target.name, "1.0.0")
    assert manifest["dist"]["tarball"].endswith(f"/{target.name}/-/{short_name(target.name)}-1.0.0.tgz")


def check_tarball(world: World, target: Target, response: requests.Response) -> None:
    assert response.content == tarball_of(target.name, "1.0.0")


def check_head(world: World, target: Target, response: requests.Response) -> None:
    assert response.content == b""
    assert response.headers["Content-Length"] == str(len(tarball_of(target.name, "1.0.0")))


def check_tags(world: World, target: Target, response: requests.Response) -> None:
    assert response.json() == {"latest": "1.0.0"}


def check_visibility(world: World, target: Target, response: requests.Response) -> None:
    assert response.json() == {"public": target.visibility == "public"}


def check_published_package(world: World, target: Target, response: requests.Response) -> None:
    assert response.json()["ok"] is True
    state = world.package_state(target.name)
    assert state["repository"] == REPOSITORIES[target.visibility]
    assert state["versions"]["1.0.0"][0] and state["tags"] == {"latest": "1.0.0"}


def check_published_version(world: World, target: Target, response: requests.Response) -> None:
    state = world.package_state(target.name)
    assert {v for v, (live, _) in state["versions"].items() if live} == {"1.0.0", "1.1.0", "2.0.0"}
    assert state["tags"] == {"latest": "2.0.0", "beta": "1.0.0"}


def check_deprecated(world: World, target: Target, response: requests.Response) -> None:
    versions = world.package_state(target.name)["versions"]
    assert versions["1.0.0"][1]["deprecated"] == "use 1.1.0"
    assert "deprecated" not in versions["1.1.0"][1]


def check_tag_added(world: World, target: Target, response: requests.Response) -> None:
    assert world.package_state(target.name)["tags"] == {"latest": "1.1.0", "beta": "1.0.0", "next": "1.0.0"}


def check_tag_removed(world: World, target: Target, response: requests.Response) -> None:
    assert world.package_state(target.name)["tags"] == {"latest": "1.1.0"}


def check_version_unpublished(world: World, target: Target, response: requests.Response) -> None:
    state = world.package_state(target.name)
    assert {v: live for v, (live, _) in state["versions"].items()} == {"1.0.0": True, "1.1.0": False}
    assert state["tags"] == {"latest": "1.0.0", "beta": "1.0.0"}
    assert not state["deleted"]


def check_package_unpublished(world: World, target: Target, response: requests.Response) -> None:
    assert world.package_state(target.name)["deleted"]
    assert world.request("GET", escaped(target.name), world.root).status_code == 404


def check_tarball_gone(world: World, target: Target, response: requests.Response) -> None:
    assert response.json() == {"ok": True}
    state = world.package_state(target.name)
    assert {v: live for v, (live, _) in state["versions"].items()} == {"1.0.0": False, "1.1.0": True}
    tarball = f"{escaped(target.name)}/-/{short_name(target.name)}-1.0.0.tgz"
    assert world.request("GET", tarball, world.root).status_code == 404


def repository_of(target: Target) -> str:
    """The repository a publish names: the column's, in the package's own scope."""
    if target.repository:
        return target.repository
    scope = target.name.split("/", 1)[0][1:]
    return f"{scope}/{REPOSITORIES[target.visibility].split('/', 1)[1]}"


def tarball_path(target: Target) -> str:
    return f"{target.name}/-/{short_name(target.name)}-{target.version}.tgz"


def deprecate_document(target: Target) -> dict:
    document = json.loads(json.dumps(target.document or {"name": target.name, "versions": {}}))
    document["name"] = document["_id"] = target.name
    if "1.0.0" in document["versions"]:
        document["versions"]["1.0.0"]["deprecated"] = "use 1.1.0"
    return document


def unpublish_version_document(target: Target) -> dict:
    """The packument `npm unpublish NAME@1.1.0` sends: 1.1.0 gone, latest moved to 1.0.0."""
    document = json.loads(json.dumps(target.document or {"dist-tags": {}, "versions": {}}))
    document["name"] = document["_id"] = target.name
    document["versions"].pop("1.1.0", None)
    if document["dist-tags"].get("latest") == "1.1.0":
        document["dist-tags"]["latest"] = "1.0.0"
    return document


ENDPOINTS = [
    Endpoint("GET-packument", "R", 200, shared,
             lambda w, t, tok: w.request("GET", escaped(t.name), tok), check_packument),
    Endpoint("GET-packument-abbreviated", "R", 200, shared,
             lambda w, t, tok: w.request("GET", escaped(t.name), tok, headers={"Accept": ABBREVIATED}),
             check_abbreviated),
    Endpoint("GET-version-manifest", "R", 200, shared,
             lambda w, t, tok: w.request("GET", f"{escaped(t.name)}/1.0.0", tok), check_manifest),
    Endpoint("GET-tarball", "R", 200, shared,
             lambda w, t, tok: w.request("GET", tarball_path(t), tok), check_tarball),
    Endpoint("HEAD-tarball", "R", 200, shared,
             lambda w, t, tok: w.request("HEAD", tarball_path(t), tok), check_head),
    Endpoint("GET-dist-tags", "R", 200, shared,
             lambda w, t, tok: w.request("GET", f"-/package/{escaped(t.name)}/dist-tags", tok), check_tags),
    Endpoint("GET-visibility", "R", 200, shared,
             lambda w, t, tok: w.request("GET", f"-/package/{escaped(t.name)}/visibility", tok),
             check_visibility),
    Endpoint("PUT-publish-new-package", "W", 201, new_package,
             lambda w, t, tok: w.request("PUT", escaped(t.name), tok, json=publish_document(
                 t.name, "1.0.0", repository_of(t))),
             check_published_package,
             missing=lambda target: replace(target, repository=MISSING_REPOSITORY), hidden_status=400),
    Endpoint("PUT-publish-new-version", "W", 201, fresh,
             lambda w, t, tok: w.request("PUT", escaped(t.name), tok, json=publish_document(
                 t.name, "2.0.0", repository_of(t))),
             check_published_version,
             missing=lambda target: replace(target, name=MISSING_PACKAGE, repository=MISSING_REPOSITORY),
             hidden_status=400),
    Endpoint("PUT-packument-deprecate", "W", 201, fresh_with_packument,
             lambda w, t, tok: w.request("PUT", escaped(t.name), tok, json=deprecate_document(t)),
             check_deprecated),
    Endpoint("PUT-dist-tag", "W", 201, fresh,
             lambda w, t, tok: w.request("PUT", f"-/package/{escaped(t.name)}/dist-tags/next", tok,
                                         json="1.0.0"),
             check_tag_added),
    Endpoint("DELETE-dist-tag", "W", 200, fresh,
             lambda w, t, tok: w.request("DELETE", f"-/package/{escaped(t.name)}/dist-tags/beta", tok),
             check_tag_removed),
    Endpoint("PUT-rev-unpublish-version", "D", 201, fresh_with_packument,
             lambda w, t, tok: w.request("PUT", f"{escaped(t.name)}/-rev/{t.rev}", tok,
                                         json=unpublish_version_document(t)),
             check_version_unpublished),
    Endpoint("DELETE-rev-unpublish-package", "D", 200, fresh_with_packument,
             lambda w, t, tok: w.request("DELETE", f"{escaped(t.name)}/-rev/{t.rev}", tok),
             check_package_unpublished),
    Endpoint("DELETE-tarball-rev", "D", 200, fresh_without_1_0_0,
             lambda w, t, tok: w.request("DELETE", f"{tarball_path(t)}/-rev/{t.rev}", tok),
             check_tarball_gone),
]


def check_refusal(world: World, endpoint: Endpoint, target: Target, actor: str, token: str | None,
                  code: str, response: requests.Response) -> None:
    """A refused request answers as DESIGN.md says, in npm's error shape."""
    status = endpoint.hidden_status if code == "404" else int(code[:3])
    assert response.status_code == status, response.text
    assert ("WWW-Authenticate" in response.headers) == (code == "401")
    if code in ("401", "404"):
        # Whether the package (or repository) exists is nobody's business who may not read it.
        twin_target = endpoint.missing(target)
        twin = endpoint.send(world, twin_target, token)
        assert twin.status_code == response.status_code
        assert twin.headers.get("WWW-Authenticate") == response.headers.get("WWW-Authenticate")
        named = repository_of(target).encode(), repository_of(twin_target).encode()
        assert twin.content == response.content.replace(*named)
    if endpoint.name.startswith("HEAD"):  # no body: the status and the challenge say it all
        return
    message = response.json()["error"]
    if code == "401":
        assert response.headers["WWW-Authenticate"] == 'Token realm="npm"'
        expected = "authentication required" if actor == "anonymous" else "bad credentials"
        assert message.startswith(expected) and "_authToken" in message, message
    if code == "404":
        assert message == "not found" if status == 404 else "which does not exist" in message, message
    if code == "403s":
        assert "lacks the scope" in message, message
        assert all(scope in message for scope in SCOPE_NAMED[endpoint.action]), message
    if code == "403r":
        role, repository = ROLE_NAMED[endpoint.action], REPOSITORIES[target.visibility]
        assert f"needs {role} access to {repository}" in message, message
        # maint is an admin there: a job token's refusal says the token is what stands in the way.
        assert (f"this token acts on {ELSEWHERE} only" in message) == (actor == "job-other"), message


CELLS = [
    pytest.param(on, actor, visibility, endpoint, MATRIX[on][actor, visibility, endpoint.action],
                 id=f"anonymous-read-{'on' if on else 'off'}-{visibility}-{actor}-{endpoint}")
    for on in (True, False) for visibility in VISIBILITIES for actor in ACTORS for endpoint in ENDPOINTS
]


@pytest.mark.parametrize(("on", "actor", "visibility", "endpoint", "code"), CELLS)
def test_matrix(live, world, on, actor, visibility, endpoint, code):
    run_cell(live, world, on, actor, visibility, endpoint, code)


def run_cell(live, world: World, on: bool, actor: str, visibility: str, endpoint: Endpoint, code: str) -> None:
    """One cell: the request, then what was stored or how it was refused (a refused write changes nothing)."""
    target = endpoint.arrange(world, visibility)
    before = world.snapshot(target.name) if endpoint.action != "R" else None
    token = world.token(actor, visibility)
    with anonymous_read(live, on):
        response = endpoint.send(world, target, token)
        if code == "ok":
            assert response.status_code == endpoint.success, response.text
            endpoint.done(world, target, response)
            return
        check_refusal(world, endpoint, target, actor, token, code, response)
    if before is not None:
        # A refused write stores nothing (no rows, no blob, no upload) and deletes nothing.
        assert world.snapshot(target.name) == before


def test_the_tables_cover_every_cell():
    """Every (anonymous_read, actor, visibility, endpoint) runs; a cell missing from a table is an error."""
    assert len(CELLS) == 2 * len(ACTORS) * len(VISIBILITIES) * len(ENDPOINTS)
    assert {endpoint.action for endpoint in ENDPOINTS} == set(ACTIONS)
    assert set(GLOBAL) == set(ACTORS)
    every_cell = set(itertools.product(ACTORS, VISIBILITIES, ACTIONS))
    assert set(MATRIX[True]) == set(MATRIX[False]) == every_cell


# ---- a package that does not exist ------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("actor", ACTORS)
def test_a_missing_package_is_401_for_anonymous_and_404_for_everyone_else(world, actor, endpoint):
    """Nobody learns from an answer whether a package exists: anonymous requests and bad credentials are
    challenged, everyone signed in hears "not found" (a new package: the repository is not found)."""
    target = endpoint.missing(Target(world.new_name(), "private"))
    before = world.stored_counts()
    response = endpoint.send(world, target, world.token(actor, "private"))
    unauthenticated = actor in ("anonymous", "expired", "revoked", "suspended", "unknown-token")
    if unauthenticated:
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Token realm="npm"'
    else:
        assert response.status_code == endpoint.hidden_status, response.text
        assert "WWW-Authenticate" not in response.headers
        if endpoint.name != "HEAD-tarball":
            message = response.json()["error"]
            assert message == "not found" if endpoint.hidden_status == 404 else "does not exist" in message
    assert world.stored_counts() == before


# ---- endpoints that name no package -----------------------------------------------------------------


LOGINS = {"no-scopes": "maint", "read-token": "maint", "write-token": "maint", "delete-token": "maint",
          "stranger": "stranger", "collab-read": "reader", "collab-write": "writer", "collab-admin": "keeper",
          "org-owner": "boss", "site-admin": "root", "job-own": "maint", "job-other": "maint"}


@pytest.mark.parametrize("on", [True, False], ids=["anonymous-read-on", "anonymous-read-off"])
@pytest.mark.parametrize("actor", ACTORS)
def test_whoami(live, world, actor, on):
    expected = GLOBAL[actor][0]
    with anonymous_read(live, on):
        response = world.request("GET", "-/whoami", world.token(actor, GLOBAL_JOB_VISIBILITY))
    if expected == "ok":
        assert response.status_code == 200
        assert response.json() == {"username": LOGINS[actor]}
    else:
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Token realm="npm"'
        assert "_authToken" in response.json()["error"]


@pytest.mark.parametrize("on", [True, False], ids=["anonymous-read-on", "anonymous-read-off"])
@pytest.mark.parametrize("actor", ACTORS)
def test_ping(live, world, actor, on):
    expected = GLOBAL[actor][1]
    with anonymous_read(live, on):
        response = world.request("GET", "-/ping", world.token(actor, GLOBAL_JOB_VISIBILITY))
    if expected == "ok":
        assert (response.status_code, response.json()) == (200, {})
    else:
        assert response.status_code == 401 and response.json()["error"].startswith("bad credentials")


@pytest.mark.parametrize("on", [True, False], ids=["anonymous-read-on", "anonymous-read-off"])
@pytest.mark.parametrize("actor", ACTORS)
def test_search_shows_only_what_the_actor_may_read(live, world, actor, on):
    expected = GLOBAL[actor][2][on]
    with anonymous_read(live, on):
        response = world.request("GET", "-/v1/search", world.token(actor, GLOBAL_JOB_VISIBILITY),
                                 params={"text": "shared-", "size": 250})
    if expected == "401":
        assert response.status_code == 401 and response.json()["error"].startswith("bad credentials")
        return
    assert response.status_code == 200
    found = sorted(result["package"]["name"] for result in response.json()["objects"])
    visible = [] if expected == "-" else expected.split(",")
    assert found == sorted(world.shared[visibility] for visibility in visible)
    assert response.json()["total"] == len(visible)


# ---- packument PUTs that change nothing or mix changes ----------------------------------------------


@pytest.mark.parametrize("actor", ["collab-read", "read-token", "stranger"])
def test_a_packument_put_that_changes_nothing_is_still_a_write(world, actor):
    """Sending the packument back unchanged needs write access too: it never answers 201 to a reader."""
    target = fresh_with_packument(world, "public")
    before = world.snapshot(target.name)
    response = world.request("PUT", escaped(target.name), world.token(actor, "public"), json=target.document)
    assert response.status_code == 403
    assert "write" in response.json()["error"]
    assert world.snapshot(target.name) == before


def test_a_malformed_packument_put_is_challenged_before_it_is_read(world):
    """An anonymous PUT to a private package is a 401 whatever its body says."""
    target = fresh(world, "private")
    for name in (target.name, MISSING_PACKAGE):
        response = world.request("PUT", escaped(name), None, json={"name": name, "versions": "junk"})
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Token realm="npm"'


def test_an_unpublish_with_a_delete_token_moves_only_the_tags_of_the_removed_version(world):
    """A token with delete:packages but not write:packages unpublishes (npm moves `latest` along), but
    cannot slip another tag move into the same request: that request changes nothing at all."""
    target = fresh_with_packument(world, "private")
    document = unpublish_version_document(target)
    document["dist-tags"]["next"] = "1.0.0"  # not a consequence of the unpublish: a write
    before = world.snapshot(target.name)
    response = world.request("PUT", f"{escaped(target.name)}/-rev/{target.rev}", world.tokens["delete-token"],
                             json=document)
    assert response.status_code == 403 and "write:packages" in response.json()["error"]
    assert world.snapshot(target.name) == before

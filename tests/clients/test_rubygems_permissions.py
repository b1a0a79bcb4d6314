"""Who may do what with gems: every RubyGems endpoint, for every kind of actor, on a public, a private and
an internal repository, with `anonymous_read` on and off, against the appliance under gunicorn.

The actors, repositories and the expected answers per (actor, visibility, action) are the npm matrix's
(tests/unit/formats/npm/test_permissions.py): DESIGN.md's table does not depend on the format. HTTP cells send
credentials as the clients do (HTTP Basic USER:TOKEN to install, the bare key to push and yank); the real
gem and bundle run the cells they can express.
"""
from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
import requests

from appliance.models.audit import AuditEvent
from appliance.models.packages import Blob, Package, PackageFile, PackageVersion
from tests.clients.conftest import require_client
from tests.support.rubygems import RubyClients, gem_bytes
from tests.unit.formats.npm.test_permissions import (
    ACTORS,
    ELSEWHERE,
    MATRIX,
    ORG,
    REPOSITORIES,
    ROLE_NAMED,
    SCOPE_NAMED,
    VISIBILITIES,
    World,
    anonymous_read,
)

MISSING_GEM = "no-such-gem"
MISSING_REPOSITORY = "perm-nowhere"
UNAUTHENTICATED = ("anonymous", "expired", "revoked", "suspended", "unknown-token")
CHALLENGE = 'Basic realm="RubyGems"'


class GemWorld(World):
    """The npm matrix's organization, users, tokens and repositories, and gems in each repository."""

    def __init__(self, live):
        super().__init__(live, requests.Session(), f"{live.origin}/_registry/npm/")
        self.gem_source = f"{live.origin}/_registry/rubygems/{ORG}"
        self.shared_gems = {visibility: f"shared-{visibility}" for visibility in VISIBILITIES}
        for visibility, name in self.shared_gems.items():
            self.push_as_root(name, "1.0.0", visibility)
            self.push_as_root(name, "1.1.0.rc1", visibility)

    def gem_request(self, method: str, path: str, token: str | None, *, bare: bool = False,
                    source: str | None = None, **kwargs) -> requests.Response:
        """A request as gem sends it: the bare key to push and yank, USER:TOKEN over Basic otherwise."""
        kwargs.setdefault("timeout", 30)
        auth = None
        headers = kwargs.pop("headers", {})
        if token is not None and bare:
            headers["Authorization"] = token
        elif token is not None:
            auth = ("maint", token)
        return self.http.request(method, f"{source or self.gem_source}/{path}", headers=headers, auth=auth,
                                 **kwargs)

    def push(self, name: str, version: str, repository: str, token: str | None,
             source: str | None = None) -> requests.Response:
        data = gem_bytes(name, version, metadata={"github_repo": repository})
        return self.gem_request("POST", "api/v1/gems", token, bare=True, source=source, data=data,
                                headers={"Content-Type": "application/octet-stream"})

    def push_as_root(self, name: str, version: str, visibility: str) -> None:
        response = self.push(name, version, REPOSITORIES[visibility], self.root)
        assert response.status_code == 200, response.text

    def fresh_gem(self, visibility: str) -> str:
        name = f"cell-{next(self.counter)}"
        self.push_as_root(name, "1.0.0", visibility)
        self.push_as_root(name, "1.1.0", visibility)
        return name

    def gem_state(self, name: str) -> dict:
        with self.live.db():
            package = Package.get_or_none(Package.lower_name == name.lower())
            if package is None:
                return {}
            versions = {v.version: v.deleted_at is None
                        for v in PackageVersion.select().where(PackageVersion.package == package.id)}
            return {"repository": package.repository.full_name, "versions": versions}

    def stored(self) -> dict:
        storage = self.live.bootstrap.storage_path
        with self.live.db():
            rows = {model.__name__: model.select().count()
                    for model in (Package, PackageVersion, PackageFile, Blob, AuditEvent)}
        return {"rows": rows, "files": sorted(str(p) for p in storage.rglob("*") if p.is_file())}


@pytest.fixture(scope="module")
def world(live) -> GemWorld:
    return GemWorld(live)


# ---- endpoints ---------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    visibility: str
    repository: str  # what a push names in github_repo
    source: str | None = None  # another owner's source (a missing owner), else the organization's


@dataclass(frozen=True)
class Endpoint:
    name: str
    action: str  # R, W or D
    arrange: Callable[[GemWorld, str], Target]
    send: Callable[[GemWorld, Target, str | None], requests.Response]
    done: Callable[[GemWorld, Target, requests.Response], None]
    # A listing answers 200 to everyone it does not refuse outright, listing only what they may read.
    listing: Callable[[GemWorld, Target, requests.Response], bool] | None = None
    missing: Callable[[GemWorld, Target], Target] = lambda world, target: replace(target, name=MISSING_GEM)
    hidden_status: int = 404
    # A listing that names gems challenges an anonymous request for one it may not see, like a gem's own URL.
    challenges: bool = False

    def __str__(self) -> str:
        return self.name


def shared(world: GemWorld, visibility: str) -> Target:
    return Target(world.shared_gems[visibility], visibility, REPOSITORIES[visibility])


def fresh(world: GemWorld, visibility: str) -> Target:
    return Target(world.fresh_gem(visibility), visibility, REPOSITORIES[visibility])


def new_gem(world: GemWorld, visibility: str) -> Target:
    return Target(f"new-{next(world.counter)}", visibility, REPOSITORIES[visibility])


def get(path: Callable[[Target], str], method: str = "GET"):
    return lambda world, target, token: world.gem_request(method, path(target), token)


def check_info(world, target, response):
    assert [line.split(" ")[0] for line in response.text.splitlines()] == ["---", "1.0.0", "1.1.0.rc1"]


def check_quick(world, target, response):
    spec = zlib.decompress(response.content)
    assert spec[:2] == b"\x04\x08" and target.name.encode() in spec


def check_gem(world, target, response):
    expected = gem_bytes(target.name, "1.0.0", metadata={"github_repo": target.repository})
    assert hashlib.sha256(response.content).hexdigest() == hashlib.sha256(expected).hexdigest()


def check_head(world, target, response):
    assert response.content == b""
    assert int(response.headers["Content-Length"]) == len(gem_bytes(target.name, "1.0.0", metadata={
        "github_repo": target.repository}))


def check_dependencies(world, target, response):
    assert target.name.encode() in response.content


def check_dependencies_json(world, target, response):
    assert {entry["number"] for entry in response.json()} == {"1.0.0", "1.1.0.rc1"}


def check_gem_json(world, target, response):
    assert (response.json()["name"], response.json()["version"]) == (target.name, "1.0.0")


def check_versions_json(world, target, response):
    assert [v["number"] for v in response.json()] == ["1.1.0.rc1", "1.0.0"]


def lists_name(unpack: Callable[[bytes], bytes] = lambda data: data):
    def listed(world, target, response) -> bool:
        return target.name.encode() in unpack(response.content)
    return listed


def no_check(world, target, response):
    pass


def check_pushed_version(world, target, response):
    assert response.text == f"Successfully registered gem: {target.name} (1.2.0)\n"
    assert world.gem_state(target.name)["versions"] == {"1.0.0": True, "1.1.0": True, "1.2.0": True}


def check_pushed_gem(world, target, response):
    assert response.text == f"Successfully registered gem: {target.name} (1.0.0)\n"
    assert world.gem_state(target.name) == {"repository": target.repository, "versions": {"1.0.0": True}}


def check_yanked(world, target, response):
    assert response.text == f"Successfully deleted gem: {target.name} (1.1.0)\n"
    assert world.gem_state(target.name)["versions"] == {"1.0.0": True, "1.1.0": False}


def push_version(world, target, token):
    return world.push(target.name, "1.2.0", target.repository, token, source=target.source)


def push_new(world, target, token):
    return world.push(target.name, "1.0.0", target.repository, token)


def yank(world, target, token):
    return world.gem_request("DELETE", "api/v1/gems/yank", token, bare=True,
                             data={"gem_name": target.name, "version": "1.1.0"})


ENDPOINTS = [
    Endpoint("GET-info", "R", shared, get(lambda t: f"info/{t.name}"), check_info),
    Endpoint("GET-quick-spec", "R", shared, get(lambda t: f"quick/Marshal.4.8/{t.name}-1.0.0.gemspec.rz"),
             check_quick),
    Endpoint("GET-gem", "R", shared, get(lambda t: f"gems/{t.name}-1.0.0.gem"), check_gem),
    Endpoint("HEAD-gem", "R", shared, get(lambda t: f"gems/{t.name}-1.0.0.gem", "HEAD"), check_head),
    Endpoint("GET-dependencies", "R", shared, get(lambda t: f"api/v1/dependencies?gems={t.name}"),
             check_dependencies, listing=lists_name(), challenges=True),
    Endpoint("GET-dependencies-json", "R", shared, get(lambda t: f"api/v1/dependencies.json?gems={t.name}"),
             check_dependencies_json, listing=lambda w, t, r: bool(r.json()), challenges=True),
    Endpoint("GET-gem-json", "R", shared, get(lambda t: f"api/v1/gems/{t.name}.json"), check_gem_json),
    Endpoint("GET-versions-json", "R", shared, get(lambda t: f"api/v1/versions/{t.name}.json"),
             check_versions_json),
    Endpoint("GET-search-json", "R", shared, get(lambda t: f"api/v1/search.json?query={t.name}"), no_check,
             listing=lambda w, t, r: t.name in [g["name"] for g in r.json()]),
    Endpoint("GET-versions", "R", shared, get(lambda t: "versions"), no_check, listing=lists_name()),
    Endpoint("GET-names", "R", shared, get(lambda t: "names"), no_check, listing=lists_name()),
    Endpoint("GET-specs", "R", shared, get(lambda t: "specs.4.8.gz"), no_check,
             listing=lists_name(gzip.decompress)),
    Endpoint("GET-latest-specs", "R", shared, get(lambda t: "latest_specs.4.8.gz"), no_check,
             listing=lists_name(gzip.decompress)),
    Endpoint("GET-prerelease-specs", "R", shared, get(lambda t: "prerelease_specs.4.8.gz"), no_check,
             listing=lists_name(gzip.decompress)),
    Endpoint("HEAD-source", "R", shared, get(lambda t: "", "HEAD"), no_check, listing=lambda w, t, r: True),
    # A push of a gem hidden from the pusher is answered as a push of a name nobody took.
    Endpoint("POST-push-new-version", "W", fresh, push_version, check_pushed_version,
             missing=lambda world, target: replace(target, repository=f"{ORG}/{MISSING_REPOSITORY}"),
             hidden_status=422),
    Endpoint("POST-push-new-gem", "W", new_gem, push_new, check_pushed_gem,
             missing=lambda world, target: replace(target, repository=f"{ORG}/{MISSING_REPOSITORY}"),
             hidden_status=422),
    Endpoint("DELETE-yank", "D", fresh, yank, check_yanked),
]


def check_refusal(world: GemWorld, endpoint: Endpoint, target: Target, actor: str, token: str | None,
                  code: str, response: requests.Response) -> None:
    """A refused request answers as DESIGN.md says, in plain text that gem prints."""
    status = endpoint.hidden_status if code == "404" else int(code[:3])
    assert response.status_code == status, response.text
    assert response.headers.get("WWW-Authenticate") == (CHALLENGE if code == "401" else None)
    if code in ("401", "404"):
        # Whether the gem (or repository) exists is nobody's business who may not read it.
        twin_target = endpoint.missing(world, target)
        twin = endpoint.send(world, twin_target, token)
        assert twin.status_code == response.status_code
        assert twin.content == response.content.replace(target.repository.encode(), twin_target.repository.encode())
    if endpoint.name.startswith("HEAD"):
        return
    assert response.headers["Content-Type"].startswith("text/plain")
    message = response.text
    if code == "401":
        expected = "authentication required" if actor == "anonymous" else "bad credentials"
        assert message.startswith(expected), message
    if code == "404":
        assert message == "not found\n" if status == 404 else "which does not exist" in message, message
    if code == "403s":
        assert "lacks the scope" in message and all(s in message for s in SCOPE_NAMED[endpoint.action]), message
    if code == "403r":
        role, repository = ROLE_NAMED[endpoint.action], REPOSITORIES[target.visibility]
        assert f"needs {role} access to {repository}" in message, message
        assert (f"this token acts on {ELSEWHERE} only" in message) == (actor == "job-other"), message


def check_listing(endpoint: Endpoint, world: GemWorld, target: Target, actor: str, on: bool, code: str,
                  response: requests.Response) -> None:
    """An index of the owner's gems lists the column's gem to whoever may read it and leaves it out for
    everyone else it answers; it refuses only those who may read nothing at all (and, for the dependency
    API, an anonymous request naming a gem it may not see: the challenge makes clients send credentials)."""
    refused = 403 if code == "403s" else None
    if code == "401" and (endpoint.challenges or actor != "anonymous" or not on):
        refused = 401
    if refused:
        assert response.status_code == refused, response.text
        assert response.headers.get("WWW-Authenticate") == (CHALLENGE if refused == 401 else None)
        return
    assert response.status_code == 200, response.text
    if not endpoint.name.startswith("HEAD"):
        assert endpoint.listing(world, target, response) == (code == "ok")


CELLS = [
    pytest.param(on, actor, visibility, endpoint, MATRIX[on][actor, visibility, endpoint.action],
                 id=f"anonymous-read-{'on' if on else 'off'}-{visibility}-{actor}-{endpoint}")
    for on in (True, False) for visibility in VISIBILITIES for actor in ACTORS for endpoint in ENDPOINTS
]


@pytest.mark.parametrize(("on", "actor", "visibility", "endpoint", "code"), CELLS)
def test_matrix(live, world, on, actor, visibility, endpoint, code):
    target = endpoint.arrange(world, visibility)
    before = (world.stored(), world.gem_state(target.name)) if endpoint.action != "R" else None
    token = world.token(actor, visibility)
    with anonymous_read(live, on):
        response = endpoint.send(world, target, token)
        if endpoint.listing is not None:
            check_listing(endpoint, world, target, actor, on, code, response)
            return
        if code == "ok":
            assert response.status_code == 200, response.text
            endpoint.done(world, target, response)
            return
        check_refusal(world, endpoint, target, actor, token, code, response)
    if before is not None:
        # A refused write stores nothing (no rows, no blob, no upload) and yanks nothing.
        assert (world.stored(), world.gem_state(target.name)) == before


def test_the_tables_cover_every_cell():
    assert len(CELLS) == 2 * len(ACTORS) * len(VISIBILITIES) * len(ENDPOINTS)
    assert {endpoint.action for endpoint in ENDPOINTS} == {"R", "W", "D"}


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.listing is None], ids=str)
@pytest.mark.parametrize("actor", ACTORS)
def test_a_missing_gem_is_401_for_anonymous_and_404_for_everyone_else(world, actor, endpoint):
    target = endpoint.missing(world, Target(f"gone-{next(world.counter)}", "private", REPOSITORIES["private"]))
    before = world.stored()
    response = endpoint.send(world, target, world.token(actor, "private"))
    if actor in UNAUTHENTICATED:
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == CHALLENGE
    else:
        assert response.status_code == endpoint.hidden_status, response.text
        assert "WWW-Authenticate" not in response.headers
    assert world.stored() == before


# ---- the real clients, for the cells they can express ------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _clients_installed():
    for command in ("gem", "bundle"):
        require_client(command)


def install(world: GemWorld, clients: RubyClients, name: str, token: str | None) -> bool:
    credentials = f"maint:{token}@" if token else ""
    source = world.gem_source.replace("http://", f"http://{credentials}") + "/"
    done = clients.install(name, source)
    return done.returncode == 0 and clients.installed() == [f"{name}-1.0.0"]


@pytest.mark.parametrize(("actor", "visibility", "allowed"), [
    ("read-token", "private", True), ("collab-read", "internal", True), ("anonymous", "public", True),
    ("no-scopes", "private", False), ("stranger", "private", False), ("anonymous", "private", False),
    ("job-other", "private", False), ("revoked", "public", False),
])
def test_gem_install(world, tmp_path, actor, visibility, allowed):
    assert install(world, RubyClients(tmp_path / "c"), world.shared_gems[visibility],
                   world.token(actor, visibility)) is allowed


@pytest.mark.parametrize(("actor", "visibility", "allowed"), [
    ("read-token", "private", True), ("stranger", "private", False), ("no-scopes", "public", False),
])
def test_bundle_install(world, tmp_path, actor, visibility, allowed):
    clients = RubyClients(tmp_path / "c")
    name = world.shared_gems[visibility]
    done = clients.bundle_install(f"{world.gem_source}/", {name: "1.0.0"},
                                  env={"BUNDLE_127__0__0__1": f"maint:{world.token(actor, visibility)}"})
    assert (done.returncode == 0) is allowed, done.output
    assert clients.installed() == ([f"{name}-1.0.0"] if allowed else [])


@pytest.mark.parametrize(("actor", "printed"), [
    ("read-token", "this token lacks the scope for this: it needs write:packages"),
    ("collab-read", "needs write access to acme/perm-private to publish to it"),
    ("stranger", "names the repository acme/perm-private, which does not exist"),
    ("write-token", "Successfully registered gem"),
])
def test_gem_push(world, tmp_path, actor, printed):
    clients = RubyClients(tmp_path / "c")
    name = world.fresh_gem("private")
    gem = tmp_path / f"{name}-2.0.0.gem"
    gem.write_bytes(gem_bytes(name, "2.0.0", metadata={"github_repo": REPOSITORIES["private"]}))
    done = clients.push(gem, world.gem_source, world.token(actor, "private"))
    assert printed in done.output, done.output
    assert ("2.0.0" in world.gem_state(name)["versions"]) == printed.startswith("Successfully")


@pytest.mark.parametrize(("actor", "printed"), [
    ("write-token", "it needs delete:packages, read:packages and repo"),
    ("collab-write", "needs admin access to acme/perm-private to delete packages of it"),
    ("delete-token", "Successfully deleted gem"),
])
def test_gem_yank(world, tmp_path, actor, printed):
    clients = RubyClients(tmp_path / "c")
    name = world.fresh_gem("private")
    done = clients.run("gem", "yank", name, "-v", "1.1.0", "--host", world.gem_source,
                       env={"GEM_HOST_API_KEY": world.token(actor, "private")})
    assert printed in done.output, done.output
    assert world.gem_state(name)["versions"]["1.1.0"] is not printed.startswith("Successfully")

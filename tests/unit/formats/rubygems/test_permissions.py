"""Who may do what with gems: every RubyGems endpoint, for every kind of actor, on a public, a private and
an internal repository, with `anonymous_read` on and off, in-process (Flask's test client, credentials as
gem sends them: HTTP Basic USER:TOKEN to install, the bare key to push and yank).
tests/clients/test_rubygems_permissions.py runs the real gem and bundle cells and a sample of these through
gunicorn, with the same GemWorld.

The expected answers are DESIGN.md's "Who may do what" (tests/support/permission_matrix.py) for the cells
of each endpoint's action; the format does not change the table.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import itertools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests

from appliance.models.audit import AuditEvent
from appliance.models.packages import Blob, Package, PackageFile, PackageVersion
from appliance.settings import store_setting
from tests.support.permission_matrix import (
    ACTIONS,
    ACTORS,
    BAD_CREDENTIALS,
    ELSEWHERE,
    MATRIX,
    REPOSITORIES,
    ROLE_NAMED,
    SCOPE_NAMED,
    VISIBILITIES,
    InProcess,
    matrix_world,
)
from tests.support.rubygems import gem_bytes

ORG = "acme"
MISSING_GEM = "no-such-gem"
MISSING_REPOSITORY = "perm-nowhere"
UNAUTHENTICATED = {"anonymous"} | BAD_CREDENTIALS
CHALLENGE = 'Basic realm="RubyGems"'


def full_name(visibility: str) -> str:
    """What a push names in github_repo for the column's repository."""
    return f"{ORG}/{REPOSITORIES[visibility]}"


class GemWorld:
    """acme, its repositories and every actor's token (`permission_matrix.arrange_actors`), and gems in
    each repository. Requests go to `http` (in this process, or a requests.Session to a running server
    at `origin`); `db` binds the models to the appliance's database for what the checks read."""

    def __init__(self, tokens: dict[tuple[str, str], str | None], storage_path: Path,
                 db: Callable[[], contextlib.AbstractContextManager], http, origin: str = ""):
        self.tokens = tokens
        self.root = tokens["site-admin", "public"]
        self.storage_path = storage_path
        self.db = db
        self.http = http
        self.gem_source = f"{origin}/_registry/rubygems/{ORG}"
        self.counter = itertools.count()
        self.shared_gems = {visibility: f"shared-{visibility}" for visibility in VISIBILITIES}
        for visibility, name in self.shared_gems.items():
            self.push_as_root(name, "1.0.0", visibility)
            self.push_as_root(name, "1.1.0.rc1", visibility)

    def token(self, actor: str, visibility: str) -> str | None:
        return self.tokens[actor, visibility]

    def set(self, key: str, value) -> None:
        with self.db():
            store_setting(key, value)

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
        response = self.push(name, version, full_name(visibility), self.root)
        assert response.status_code == 200, response.text

    def fresh_gem(self, visibility: str) -> str:
        name = f"cell-{next(self.counter)}"
        self.push_as_root(name, "1.0.0", visibility)
        self.push_as_root(name, "1.1.0", visibility)
        return name

    def gem_state(self, name: str) -> dict:
        with self.db():
            package = Package.get_or_none(Package.lower_name == name.lower())
            if package is None:
                return {}
            versions = {v.version: v.deleted_at is None
                        for v in PackageVersion.select().where(PackageVersion.package == package.id)}
            return {"repository": package.repository.full_name, "versions": versions}

    def stored(self) -> dict:
        with self.db():
            rows = {model.__name__: model.select().count()
                    for model in (Package, PackageVersion, PackageFile, Blob, AuditEvent)}
        return {"rows": rows, "files": sorted(str(p) for p in self.storage_path.rglob("*") if p.is_file())}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> GemWorld:
    with matrix_world(tmp_path_factory, "rubygems-permissions",
                      {"hostname": "localhost", "subdomain_isolation": False}) as world:
        yield GemWorld(world.tokens, world.storage_path, contextlib.nullcontext, InProcess(world.client))


@contextlib.contextmanager
def anonymous_read(world: GemWorld, on: bool):
    """`anonymous_read` as the cell needs it; on is the default, and every cell leaves it on."""
    if on:
        yield
        return
    world.set("anonymous_read", False)
    try:
        yield
    finally:
        world.set("anonymous_read", True)


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
    return Target(world.shared_gems[visibility], visibility, full_name(visibility))


def fresh(world: GemWorld, visibility: str) -> Target:
    return Target(world.fresh_gem(visibility), visibility, full_name(visibility))


def new_gem(world: GemWorld, visibility: str) -> Target:
    return Target(f"new-{next(world.counter)}", visibility, full_name(visibility))


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


def missing_repository(world: GemWorld, target: Target) -> Target:
    return replace(target, repository=f"{ORG}/{MISSING_REPOSITORY}")


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
             missing=missing_repository, hidden_status=422),
    Endpoint("POST-push-new-gem", "W", new_gem, push_new, check_pushed_gem,
             missing=missing_repository, hidden_status=422),
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
        assert f"this token lacks the scope for this: it needs {SCOPE_NAMED[endpoint.action]}" in message, message
    if code == "403r":
        assert ROLE_NAMED[endpoint.action].format(repo=REPOSITORIES[target.visibility]) in message, message
        # maint is an admin there: a job token's refusal says the token is what stands in the way.
        assert (f"this token acts on {ORG}/{ELSEWHERE} only" in message) == (actor == "job-other"), message


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
def test_matrix(world, on, actor, visibility, endpoint, code):
    run_cell(world, on, actor, visibility, endpoint, code)


def run_cell(world: GemWorld, on: bool, actor: str, visibility: str, endpoint: Endpoint, code: str) -> None:
    """One cell: the request, then what was stored or how it was refused (a refused write changes nothing)."""
    target = endpoint.arrange(world, visibility)
    before = (world.stored(), world.gem_state(target.name)) if endpoint.action != "R" else None
    token = world.token(actor, visibility)
    with anonymous_read(world, on):
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
    assert {endpoint.action for endpoint in ENDPOINTS} == set(ACTIONS)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.listing is None], ids=str)
@pytest.mark.parametrize("actor", ACTORS)
def test_a_missing_gem_is_401_for_anonymous_and_404_for_everyone_else(world, actor, endpoint):
    target = endpoint.missing(world, Target(f"gone-{next(world.counter)}", "private", full_name("private")))
    before = world.stored()
    response = endpoint.send(world, target, world.token(actor, "private"))
    if actor in UNAUTHENTICATED:
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == CHALLENGE
    else:
        assert response.status_code == endpoint.hidden_status, response.text
        assert "WWW-Authenticate" not in response.headers
    assert world.stored() == before

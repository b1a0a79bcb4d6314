"""Who may do what with images: pull (R), push (W), mount from an image of the same repository (M),
delete a manifest (D), and see an image in the catalog (C), for every kind of actor, on a public, a
private and an internal repository, with `anonymous_read` on and off; and the bearer tokens the token
endpoint grants them, which must match the same table.

The expected answers are DESIGN.md's "Who may do what" written out cell by cell below (as for Maven).
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import time

import pytest

from appliance import create_app
from appliance.accounts.service import add_member, create_organization, create_repository, create_user, grant
from appliance.auth.tokens import hash_secret, issue_token
from appliance.db import open_database
from appliance.formats.docker import bearer as bearer_tokens
from appliance.migrate import migrate
from appliance.models import Account, PackageVersion, StagedBlob, Token
from appliance.models.base import utcnow
from appliance.settings import Bootstrap, store_setting
from tests.support.oci import build_image, digest_of
from tests.unit.formats.docker.conftest import basic, bearer

FULL = ["read:packages", "write:packages", "delete:packages", "repo"]
REPOSITORIES = {"public": "perm-public", "private": "perm-private", "internal": "perm-internal"}
VISIBILITIES = tuple(REPOSITORIES)
ACTIONS = ("R", "W", "D")
HOST = "docker.appliance.test"

MATRIX_ANONYMOUS_READ_ON = """
                public            private           internal
actor           R    W    D       R    W    D       R    W    D
anonymous       ok   401  401     401  401  401     401  401  401
no-scopes       403s 403s 403s    403s 403s 403s    403s 403s 403s
read-token      ok   403s 403s    ok   403s 403s    ok   403s 403s
write-token     ok   ok   403s    ok   ok   403s    ok   ok   403s
delete-token    ok   403s ok      ok   403s ok      ok   403s ok
stranger        ok   403r 403r    404  404  404     ok   403r 403r
collab-read     ok   403r 403r    ok   403r 403r    ok   403r 403r
collab-write    ok   ok   403r    ok   ok   403r    ok   ok   403r
collab-admin    ok   ok   ok      ok   ok   ok      ok   ok   ok
org-owner       ok   ok   ok      ok   ok   ok      ok   ok   ok
site-admin      ok   ok   ok      ok   ok   ok      ok   ok   ok
job-own         ok   ok   ok      ok   ok   ok      ok   ok   ok
job-other       ok   403r 403r    404  404  404     ok   403r 403r
other-owner     ok   403r 403r    404  404  404     ok   403r 403r
expired         401  401  401     401  401  401     401  401  401
revoked         401  401  401     401  401  401     401  401  401
suspended       401  401  401     401  401  401     401  401  401
unknown-token   401  401  401     401  401  401     401  401  401
"""
MATRIX_ANONYMOUS_READ_OFF = MATRIX_ANONYMOUS_READ_ON.replace(
    "anonymous       ok   401  401", "anonymous       401  401  401")
ACTORS = [line.split()[0] for line in MATRIX_ANONYMOUS_READ_ON.strip().splitlines()[2:]]
BAD_CREDENTIALS = {"expired", "revoked", "suspended", "unknown-token"}


def parse_matrix(text: str) -> dict[tuple[str, str, str], str]:
    cells = {}
    for actor, *codes in (line.split() for line in text.strip().splitlines()[2:]):
        assert len(codes) == 9 and set(codes) <= {"ok", "401", "403s", "403r", "404"}, actor
        for (visibility, action), code in zip(itertools.product(VISIBILITIES, ACTIONS), codes):
            cells[actor, visibility, action] = code
    return cells


MATRIX = {True: parse_matrix(MATRIX_ANONYMOUS_READ_ON), False: parse_matrix(MATRIX_ANONYMOUS_READ_OFF)}
SCOPE_NAMED = {"R": "read:packages", "W": "write:packages", "D": "delete:packages, read:packages and repo"}
ROLE_NAMED = {"W": "needs write access to acme/{repo} to publish to it",
              "D": "needs admin access to acme/{repo} to delete packages of it"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """acme with a repository per visibility, each holding acme/REPO/app:v1; a token per actor."""
    boot = Bootstrap.embedded_default(tmp_path_factory.mktemp("docker-permissions") / "home")
    boot.storage_path.mkdir(parents=True)
    boot.write()
    db = open_database(boot.database_url)
    migrate(db)
    app = create_app(boot)
    with app.app_context():
        store_setting("hostname", "appliance.test")
        store_setting("subdomain_isolation", True)
        acme = create_organization("acme", create_user("acme-owner"))
        users = {login: create_user(login, site_admin=(login == "site-admin")) for login in (
            "maint", "stranger", "collab-read", "collab-write", "collab-admin", "site-admin", "suspended",
            "org-owner", "other")}
        add_member(acme, users["org-owner"], "owner")
        repos = {v: create_repository(acme, name, v) for v, name in REPOSITORIES.items()}
        elsewhere = create_repository(acme, "perm-elsewhere", "private")
        create_repository(users["other"], "own", "public")
        for repo in [*repos.values(), elsewhere]:
            grant(repo, users["maint"], "admin")
            grant(repo, users["suspended"], "admin")
            for role in ("read", "write", "admin"):
                grant(repo, users[f"collab-{role}"], role)

        def token(login, scopes=FULL, **options):
            return issue_token(users[login], scopes, **options)[1]

        common = {
            "anonymous": None, "no-scopes": token("maint", []), "read-token": token("maint", ["read:packages"]),
            "write-token": token("maint", ["write:packages"]),
            "delete-token": token("maint", ["delete:packages", "read:packages", "repo"]),
            "stranger": token("stranger"), "collab-read": token("collab-read"),
            "collab-write": token("collab-write"), "collab-admin": token("collab-admin"),
            "org-owner": token("org-owner"), "site-admin": token("site-admin"),
            "job-other": token("maint", repository=elsewhere), "other-owner": token("other"),
            "expired": token("maint"), "revoked": token("maint"), "suspended": token("suspended"),
            "unknown-token": "apt_never-issued-by-this-appliance",
        }
        Token.update(expires_at=utcnow() - dt.timedelta(hours=1)).where(
            Token.token_hash == hash_secret(common["expired"])).execute()
        Token.update(revoked_at=utcnow()).where(Token.token_hash == hash_secret(common["revoked"])).execute()
        Account.update(suspended=True).where(Account.id == users["suspended"].id).execute()
        tokens = {}
        for visibility, repo in repos.items():
            for actor, secret in common.items():
                tokens[actor, visibility] = secret
            tokens["job-own", visibility] = token("maint", repository=repo)

        client = app.test_client()
        admin = _headers(tokens["site-admin", "public"])
        for visibility in REPOSITORIES:
            _push(client, admin, f"{_image(visibility)}", build_image([visibility.encode()]), "v1")
        yield client, tokens, boot.storage_path, bearer_tokens.signing_key(boot.secret_key)
    db.close()


def _headers(secret: str | None) -> dict[str, str]:
    headers = {"Host": HOST}
    if secret is not None:
        headers.update(basic("user", secret))
    return headers


def _image(visibility: str, name: str | None = None) -> str:
    """Images are packages, unique per owner: each repository has its own."""
    return f"acme/{REPOSITORIES[visibility]}/{name or 'app-' + visibility}"


def _push(client, headers, image: str, built, tag: str) -> None:
    for blob in built.blobs:
        response = client.post(f"/v2/{image}/blobs/uploads/?digest={digest_of(blob)}", data=blob, headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)
    response = client.put(f"/v2/{image}/manifests/{tag}", data=built.manifest,
                          headers={**headers, "Content-Type": built.media_type})
    assert response.status_code == 201, response.get_data(as_text=True)


def _check_refusal(response, code: str, action: str, visibility: str, missing) -> None:
    errors = response.get_json()["errors"]
    if code == "401":
        assert response.status_code == 401 and errors[0]["code"] == "UNAUTHORIZED"
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="http://docker.appliance.test/token"')
        assert missing.status_code == 401
    elif code == "404":
        assert response.status_code == 404 and errors[0]["code"] == "NAME_UNKNOWN"
        assert missing.status_code == 404 and missing.get_json()["errors"][0]["code"] == "NAME_UNKNOWN"
    elif code == "403s":
        assert response.status_code == 403 and errors[0]["code"] == "DENIED"
        assert f"it needs {SCOPE_NAMED[action]}" in errors[0]["message"]
    else:
        assert response.status_code == 403 and errors[0]["code"] == "DENIED"
        assert ROLE_NAMED[action].format(repo=REPOSITORIES[visibility]) in errors[0]["message"]


CELLS = [(anonymous_read, actor, visibility, action) for anonymous_read in (True, False) for actor in ACTORS
         for visibility in VISIBILITIES for action in ACTIONS]


@pytest.mark.parametrize(("anonymous_read", "actor", "visibility", "action"), CELLS,
                         ids=[f"{'anon-read-on' if a else 'anon-read-off'}-{b}-{c}-{d}" for a, b, c, d in CELLS])
def test_matrix(world, anonymous_read, actor, visibility, action):
    client, tokens, storage_root, _ = world
    store_setting("anonymous_read", anonymous_read)
    code = MATRIX[anonymous_read][actor, visibility, action]
    headers = _headers(tokens[actor, visibility])
    cell = f"{actor}-{visibility}-{'on' if anonymous_read else 'off'}"
    nowhere = f"acme/no-such-repo-{visibility}/app"

    if action == "R":
        response = client.get(f"/v2/{_image(visibility)}/manifests/v1", headers=headers)
        if code == "ok":
            assert response.status_code == 200 and response.data == build_image([visibility.encode()]).manifest
        else:
            _check_refusal(response, code, action, visibility,
                           client.get(f"/v2/{nowhere}/manifests/v1", headers=headers))
        return

    if action == "W":
        data = cell.encode()
        response = client.post(f"/v2/{_image(visibility)}/blobs/uploads/?digest={digest_of(data)}", data=data,
                               headers=headers)
        # A mount from another image of the same repository needs the same.
        layer = digest_of(build_image([visibility.encode()]).blobs[1])
        mount = client.post(f"/v2/{_image(visibility, 'copy-' + cell)}/blobs/uploads/?mount={layer}"
                            f"&from={_image(visibility)}", headers=headers)
        staged = StagedBlob.select().where(StagedBlob.package_name == f"copy-{cell}").count()
        if code == "ok":
            assert response.status_code == 201 and mount.status_code == 201 and staged == 1
        else:
            missing = client.post(f"/v2/{nowhere}/blobs/uploads/?digest={digest_of(data)}", data=data,
                                  headers=headers)
            _check_refusal(response, code, action, visibility, missing)
            _check_refusal(mount, code, action, visibility, missing)
            assert staged == 0
            assert not (storage_root / "blobs" / "sha256" / digest_of(data)[7:9] / digest_of(data)[7:]).exists()
        return

    built = build_image([cell.encode()])
    _push(client, _headers(tokens["site-admin", visibility]), _image(visibility), built, built.digest)
    response = client.delete(f"/v2/{_image(visibility)}/manifests/{built.digest}", headers=headers)
    version = PackageVersion.get(PackageVersion.version == built.digest)
    if code == "ok":
        assert response.status_code == 202 and version.deleted_at is not None
    else:
        _check_refusal(response, code, action, visibility,
                       client.delete(f"/v2/{nowhere}/manifests/{built.digest}", headers=headers))
        assert version.deleted_at is None


@pytest.mark.parametrize("anonymous_read", (True, False))
@pytest.mark.parametrize("actor", ACTORS)
def test_the_token_endpoint_grants_exactly_the_allowed_actions(world, anonymous_read, actor):
    client, tokens, _, key = world
    store_setting("anonymous_read", anonymous_read)
    for visibility in VISIBILITIES:
        scope = f"repository:{_image(visibility)}:pull,push,delete"
        response = client.get(f"/token?service={HOST}&scope={scope}", headers=_headers(tokens[actor, visibility]))
        if actor in BAD_CREDENTIALS:
            assert response.status_code == 401
            continue
        assert response.status_code == 200
        grant = bearer_tokens.verify(key, response.get_json()["token"], time.time())
        expected = {verb for verb, action in (("pull", "R"), ("push", "W"), ("delete", "D"))
                    if MATRIX[anonymous_read][actor, visibility, action] == "ok"}
        assert set(grant.access.get(_image(visibility), ())) == expected, visibility
        # And the registry honours the bearer token as it would the credentials behind it.
        pulled = client.get(f"/v2/{_image(visibility)}/manifests/v1",
                            headers={"Host": HOST, **bearer(response.get_json()["token"])})
        assert (pulled.status_code == 200) == ("pull" in expected)


@pytest.mark.parametrize("anonymous_read", (True, False))
@pytest.mark.parametrize("actor", ACTORS)
def test_the_catalog_lists_the_images_the_actor_may_pull(world, anonymous_read, actor):
    client, tokens, _, _ = world
    store_setting("anonymous_read", anonymous_read)
    response = client.get("/v2/_catalog", headers=_headers(tokens[actor, "public"]))
    if actor in BAD_CREDENTIALS:
        assert response.status_code == 401
        return
    listed = set(json.loads(response.data)["repositories"])
    expected = {_image(v) for v in VISIBILITIES if MATRIX[anonymous_read][actor, v, "R"] == "ok"}
    if actor == "job-own":
        # Each job token reaches its own repository; the one sent here is public's.
        expected = {_image(v) for v in VISIBILITIES if v != "private"}
    assert {name for name in listed if "/app-" in name} == expected


def test_a_mount_from_a_repository_the_caller_cannot_read_uploads_instead(world):
    client, tokens, _, _ = world
    store_setting("anonymous_read", True)
    private_layer = digest_of(build_image([b"private"]).blobs[1])
    headers = _headers(tokens["other-owner", "public"])
    response = client.post(f"/v2/other/own/app/blobs/uploads/?mount={private_layer}&from={_image('private')}",
                           headers=headers)
    assert response.status_code == 202 and "Docker-Upload-UUID" in response.headers
    public_layer = digest_of(build_image([b"public"]).blobs[1])
    response = client.post(f"/v2/other/own/app/blobs/uploads/?mount={public_layer}&from={_image('public')}",
                           headers=headers)
    assert response.status_code == 201

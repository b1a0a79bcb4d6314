"""DESIGN.md's "Who may do what", written out cell by cell for read (R), write (W) and delete (D) on a
public, a private and an internal repository, and the actors the in-process matrix tests arrange:
the organization acme with a repository per visibility, users in every role, and a token per actor.

ok: allowed; 401: challenge (with WWW-Authenticate), the same answer as for something that does not
exist; 404: the same answer as for something that does not exist; 403s: refused naming the missing
scope; 403r: refused naming the missing repository role.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from appliance import create_app
from appliance.accounts.service import add_member, create_organization, create_repository, create_user, grant
from appliance.auth.tokens import hash_secret, issue_token
from appliance.db import open_database
from appliance.migrate import migrate
from appliance.models import Account, Token
from appliance.models.base import utcnow
from appliance.settings import store_setting
from tests.support.databases import bootstrap_for_tests

FULL = ["read:packages", "write:packages", "delete:packages", "repo"]
REPOSITORIES = {"public": "perm-public", "private": "perm-private", "internal": "perm-internal"}
# The repository of acme that the `job-other` actor's job token belongs to.
ELSEWHERE = "perm-elsewhere"
VISIBILITIES = tuple(REPOSITORIES)
ACTIONS = ("R", "W", "D")

# The one table (anonymous_read on): every kind of actor the tests know. In-process matrices and live ones
# arrange the token actors (ACTORS); tests of `authorize` itself also arrange an organization member and
# browser sessions (no token, so no scope limits); bad credentials never reach a decision.
DESIGN_TABLE = """
                  public            private           internal
actor             R    W    D       R    W    D       R    W    D
anonymous         ok   401  401     401  401  401     401  401  401
no-scopes         403s 403s 403s    403s 403s 403s    403s 403s 403s
read-token        ok   403s 403s    ok   403s 403s    ok   403s 403s
write-token       ok   ok   403s    ok   ok   403s    ok   ok   403s
delete-token      ok   403s ok      ok   403s ok      ok   403s ok
stranger          ok   403r 403r    404  404  404     ok   403r 403r
collab-read       ok   403r 403r    ok   403r 403r    ok   403r 403r
collab-write      ok   ok   403r    ok   ok   403r    ok   ok   403r
collab-admin      ok   ok   ok      ok   ok   ok      ok   ok   ok
org-owner         ok   ok   ok      ok   ok   ok      ok   ok   ok
org-member        ok   403r 403r    404  404  404     ok   403r 403r
site-admin        ok   ok   ok      ok   ok   ok      ok   ok   ok
job-own           ok   ok   ok      ok   ok   ok      ok   ok   ok
job-other         ok   403r 403r    404  404  404     ok   403r 403r
other-owner       ok   403r 403r    404  404  404     ok   403r 403r
session-writer    ok   ok   403r    ok   ok   403r    ok   ok   403r
session-stranger  ok   403r 403r    404  404  404     ok   403r 403r
expired           401  401  401     401  401  401     401  401  401
revoked           401  401  401     401  401  401     401  401  401
suspended         401  401  401     401  401  401     401  401  401
unknown-token     401  401  401     401  401  401     401  401  401
"""

TABLE_ACTORS = [line.split()[0] for line in DESIGN_TABLE.strip().splitlines()[2:]]
# The actors `arrange_actors` gives a token (or none, anonymous) to: every matrix over a protocol runs them.
ACTORS = [actor for actor in TABLE_ACTORS if actor not in ("org-member", "session-writer", "session-stranger")]
BAD_CREDENTIALS = {"expired", "revoked", "suspended", "unknown-token"}
CODES = {"ok", "401", "403s", "403r", "404"}


def parse_matrix(text: str) -> dict[tuple[str, str, str], str]:
    lines = [line.split() for line in text.strip().splitlines()]
    assert lines[0] == list(VISIBILITIES) and lines[1] == ["actor", *ACTIONS * len(VISIBILITIES)]
    cells = {}
    for actor, *codes in lines[2:]:
        assert len(codes) == 9 and set(codes) <= CODES, f"row {actor} is malformed"
        for (visibility, action), code in zip(itertools.product(VISIBILITIES, ACTIONS), codes):
            cells[actor, visibility, action] = code
    return cells


def with_anonymous_read_off(cells: dict[tuple[str, str, str], str]) -> dict[tuple[str, str, str], str]:
    """The table with anonymous_read off: only anonymous reads of public packages change (to 401)."""
    return {**cells, ("anonymous", "public", "R"): "401"}


TABLE = {True: parse_matrix(DESIGN_TABLE)}
TABLE[False] = with_anonymous_read_off(TABLE[True])
# The cells of the actors every protocol's matrix arranges.
MATRIX = {on: {cell: code for cell, code in cells.items() if cell[0] in ACTORS} for on, cells in TABLE.items()}

# What a 403s names (the missing scope) and a 403r (the missing role on acme/REPO) in the message.
SCOPE_NAMED = {"R": "read:packages", "W": "write:packages", "D": "delete:packages, read:packages and repo"}
ROLE_NAMED = {
    "W": "needs write access to acme/{repo} to publish to it",
    "D": "needs admin access to acme/{repo} to delete packages of it",
}


def arrange_actors() -> dict[tuple[str, str], str | None]:
    """The organization acme with REPOSITORIES (and a private acme/perm-elsewhere), the users of the
    matrix in their roles, and the token secret each actor sends for each visibility's repository
    (None for anonymous; `job-own` is a job token for that repository)."""
    acme = create_organization("acme", create_user("acme-owner"))
    users = {
        login: create_user(login, site_admin=(login == "site-admin"))
        for login in ("maint", "stranger", "collab-read", "collab-write", "collab-admin", "site-admin",
                      "suspended", "org-owner", "other")
    }
    add_member(acme, users["org-owner"], "owner")
    repos = {v: create_repository(acme, name, v) for v, name in REPOSITORIES.items()}
    elsewhere = create_repository(acme, ELSEWHERE, "private")
    create_repository(users["other"], "own", "public")
    for repo in [*repos.values(), elsewhere]:
        grant(repo, users["maint"], "admin")
        grant(repo, users["suspended"], "admin")
        for role in ("read", "write", "admin"):
            grant(repo, users[f"collab-{role}"], role)

    def token(login, scopes=FULL, **options) -> str:
        return issue_token(users[login], scopes, **options)[1]

    common = {
        "anonymous": None,
        "no-scopes": token("maint", []),
        "read-token": token("maint", ["read:packages"]),
        "write-token": token("maint", ["write:packages"]),
        "delete-token": token("maint", ["delete:packages", "read:packages", "repo"]),
        "stranger": token("stranger"),
        "collab-read": token("collab-read"),
        "collab-write": token("collab-write"),
        "collab-admin": token("collab-admin"),
        "org-owner": token("org-owner"),
        "site-admin": token("site-admin"),
        "job-other": token("maint", repository=elsewhere),
        "other-owner": token("other"),
        "expired": token("maint"),
        "revoked": token("maint"),
        "suspended": token("suspended"),
        "unknown-token": "apt_never-issued-by-this-appliance",
    }
    Token.update(expires_at=utcnow() - dt.timedelta(hours=1)).where(
        Token.token_hash == hash_secret(common["expired"])).execute()
    Token.update(revoked_at=utcnow()).where(Token.token_hash == hash_secret(common["revoked"])).execute()
    Account.update(suspended=True).where(Account.id == users["suspended"].id).execute()
    tokens: dict[tuple[str, str], str | None] = {}
    for visibility, repo in repos.items():
        for actor, secret in common.items():
            tokens[actor, visibility] = secret
        tokens["job-own", visibility] = token("maint", repository=repo)
    return tokens


@dataclass
class MatrixWorld:
    """An appliance of its own for one module's matrix, with acme and every actor's token arranged."""

    app: Flask
    client: FlaskClient
    tokens: dict[tuple[str, str], str | None]
    storage_path: Path
    secret_key: str


@contextlib.contextmanager
def matrix_world(tmp_path_factory, name: str, settings: dict) -> Iterator[MatrixWorld]:
    """The one world factory of the in-process matrices: a fresh appliance (its own database and
    store), `settings` stored, acme's repositories and the actors of the table arranged
    (`arrange_actors`); the block runs in the application's context, where the matrix adds its packages."""
    boot = bootstrap_for_tests(tmp_path_factory.mktemp(name) / "home")
    boot.storage_path.mkdir(parents=True)
    boot.write()
    db = open_database(boot.database_url)
    migrate(db)
    app = create_app(boot)
    try:
        with app.app_context():
            for key, value in settings.items():
                store_setting(key, value)
            yield MatrixWorld(app=app, client=app.test_client(), tokens=arrange_actors(),
                              storage_path=boot.storage_path, secret_key=boot.secret_key)
    finally:
        db.close()


class Answer:
    """A Flask test response as the checks read a `requests.Response`."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.headers = response.headers
        self.content = response.get_data()
        self.text = self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class InProcess:
    """The application answering in this process, asked as a `requests.Session` is, so that one world
    drives the in-process matrix and its sample through a running server alike."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def request(self, method: str, url: str, *, headers: dict | None = None, auth: tuple[str, str] | None = None,
                timeout: float | None = None, params=None, json=None, data=None) -> Answer:
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        return Answer(self.client.open(url, method=method, headers=headers, query_string=params, json=json,
                                       data=data))

"""The decision table of `authorize`, the one place that decides who may do what (DESIGN.md, "Who may do
what"): every kind of actor, on a public, a private and an internal repository of an organization, with
`anonymous_read` on and off, for reading (R), publishing (W) and deleting (D).
"""
from __future__ import annotations

import datetime as dt

import pytest

from appliance.accounts.service import add_member, create_organization, create_repository, create_user, grant
from appliance.auth.permissions import (
    ANONYMOUS,
    Action,
    Actor,
    Outcome,
    authorize,
    authorize_listing,
    repository_role,
    scopes_allow,
)
from appliance.auth.tokens import find_token, issue_token
from appliance.db import open_database
from appliance.migrate import migrate
from appliance.models.accounts import Account
from appliance.models.base import utcnow
from appliance.models.tokens import Token
from tests.support.databases import bootstrap_for_tests
from tests.support.permission_matrix import ACTORS as SUPPORT_ACTORS
from tests.support.permission_matrix import (
    BAD_CREDENTIALS,
    FULL,
    REPOSITORIES,
    TABLE,
    TABLE_ACTORS,
    VISIBILITIES,
)

ACTIONS = {"R": Action.READ, "W": Action.WRITE, "D": Action.DELETE}

# Who each row of DESIGN_TABLE (tests/support/permission_matrix.py, the one table) is here. Tokens carry
# every scope unless the row says otherwise; maint is an admin collaborator of every repository; a session
# is a signed-in browser (no token, so no scope limits). Bad credentials yield no actor at all
# (test_bad_credentials_never_reach_a_decision); other-owner is a stranger as far as acme goes.
ACTORS = {
    "anonymous": "nobody signed in",
    "no-scopes": "maint with a token without scopes",
    "read-token": "maint with read:packages",
    "write-token": "maint with write:packages",
    "delete-token": "maint with delete:packages, read:packages and repo",
    "stranger": "a user without a role on acme's repositories",
    "collab-read": "a collaborator with role read",
    "collab-write": "a collaborator with role write",
    "collab-admin": "a collaborator with role admin",
    "org-owner": "an owner of acme",
    "org-member": "a member (not an owner) of acme: no role from that",
    "site-admin": "a site administrator",
    "job-own": "maint's job token for the repository of the column",
    "job-other": "maint's job token for acme/perm-elsewhere",
    "session-writer": "the write collaborator in a browser session",
    "session-stranger": "the stranger in a browser session",
}

OUTCOMES = {"ok": Outcome.ALLOWED, "401": Outcome.UNAUTHENTICATED, "403s": Outcome.FORBIDDEN,
            "403r": Outcome.FORBIDDEN, "404": Outcome.NOT_FOUND}
SCOPE_MESSAGES = {
    "R": "this token lacks the scope for this: it needs read:packages",
    "W": "this token lacks the scope for this: it needs write:packages",
    "D": "this token lacks the scope for this: it needs delete:packages, read:packages and repo",
}
ROLE_MESSAGES = {"W": "{login} needs write access to acme/{repository} to publish to it",
                 "D": "{login} needs admin access to acme/{repository} to delete packages of it"}

MATRIX = {on: {cell: code for cell, code in cells.items() if cell[0] in ACTORS} for on, cells in TABLE.items()}


def test_the_table_has_a_row_for_every_actor_here_and_every_row_is_arranged_somewhere():
    assert set(ACTORS) <= set(TABLE_ACTORS)
    assert set(TABLE_ACTORS) == set(ACTORS) | set(SUPPORT_ACTORS) | BAD_CREDENTIALS


class World:
    """acme's repositories and everyone in the table, in a database of their own."""

    def __init__(self, home):
        bootstrap = bootstrap_for_tests(home)
        bootstrap.storage_path.mkdir(parents=True)
        bootstrap.write()
        self.database_url = bootstrap.database_url
        self.bind()
        migrate(open_database(self.database_url))
        boss = create_user("boss")
        self.org = create_organization("acme", boss)
        users = {login: create_user(login) for login in ("maint", "stranger", "reader", "writer", "keeper", "member")}
        users["boss"] = boss
        users["root"] = create_user("root", site_admin=True)
        add_member(self.org, users["member"], "member")
        self.repositories = {visibility: create_repository(self.org, name, visibility)
                             for visibility, name in REPOSITORIES.items()}
        self.elsewhere = create_repository(self.org, "perm-elsewhere", "private")
        for repository in [*self.repositories.values(), self.elsewhere]:
            grant(repository, users["maint"], "admin")
        for repository in self.repositories.values():
            grant(repository, users["reader"], "read")
            grant(repository, users["writer"], "write")
            grant(repository, users["keeper"], "admin")

        def token(login: str, scopes: list[str], repository=None) -> Actor:
            return Actor(user=users[login], token=issue_token(users[login], scopes, repository=repository)[0])

        self.users = users
        self.actors = {
            "anonymous": ANONYMOUS,
            "no-scopes": token("maint", []),
            "read-token": token("maint", ["read:packages"]),
            "write-token": token("maint", ["write:packages"]),
            "delete-token": token("maint", ["delete:packages", "read:packages", "repo"]),
            "stranger": token("stranger", FULL),
            "collab-read": token("reader", FULL),
            "collab-write": token("writer", FULL),
            "collab-admin": token("keeper", FULL),
            "org-owner": token("boss", FULL),
            "org-member": token("member", FULL),
            "site-admin": token("root", FULL),
            "job-other": token("maint", FULL, self.elsewhere),
            "session-writer": Actor(user=users["writer"]),
            "session-stranger": Actor(user=users["stranger"]),
        }
        self.job_tokens = {visibility: token("maint", FULL, repository)
                           for visibility, repository in self.repositories.items()}

    def bind(self) -> None:
        """Point the models at this world's database (other tests rebind them to theirs)."""
        open_database(self.database_url)

    def actor(self, name: str, visibility: str) -> Actor:
        return self.job_tokens[visibility] if name == "job-own" else self.actors[name]


@pytest.fixture(scope="module")
def module_world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("permissions") / "home")


@pytest.fixture
def world(module_world) -> World:
    module_world.bind()
    return module_world


CELLS = [
    pytest.param(on, actor, visibility, action, MATRIX[on][actor, visibility, action],
                 id=f"anonymous-read-{'on' if on else 'off'}-{visibility}-{actor}-{action}")
    for on in (True, False) for visibility in VISIBILITIES for actor in ACTORS for action in ACTIONS
]


@pytest.mark.parametrize(("on", "actor", "visibility", "action", "code"), CELLS)
def test_decision_table(world, on, actor, visibility, action, code):
    decision = authorize(world.actor(actor, visibility), world.repositories[visibility], ACTIONS[action],
                         anonymous_read=on)
    assert decision.outcome is OUTCOMES[code], decision.message
    assert decision.allowed == (code == "ok")
    message = decision.message
    if code == "ok":
        assert message == ""
    elif code == "401":
        assert message == "authentication required"
    elif code == "404":
        assert message == "not found"
    elif code == "403s":
        assert message == SCOPE_MESSAGES[action]
    else:
        expected = ROLE_MESSAGES[action].format(login=world.actor(actor, visibility).login,
                                                repository=REPOSITORIES[visibility])
        if actor == "job-other":
            # maint is an admin there: the refusal says it is the token that stands in the way.
            expected += ", and this token acts on acme/perm-elsewhere only"
        assert message == expected


def test_every_cell_of_the_tables_runs():
    assert len(CELLS) == 2 * len(ACTORS) * len(VISIBILITIES) * len(ACTIONS)
    assert {cell.values[4] for cell in CELLS} == set(OUTCOMES)


@pytest.mark.parametrize("on", [True, False])
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("actor", ACTORS)
def test_what_does_not_exist_is_401_for_anonymous_and_404_for_everyone_else(world, actor, action, on):
    """Whatever the actor's scopes or roles, a missing package reveals nothing but "sign in" or "not
    found": the same as for a private package the actor cannot see."""
    decision = authorize(world.actor(actor, "private"), None, ACTIONS[action], anonymous_read=on)
    if actor == "anonymous":
        assert (decision.outcome, decision.message) == (Outcome.UNAUTHENTICATED, "authentication required")
    else:
        assert (decision.outcome, decision.message) == (Outcome.NOT_FOUND, "not found")


@pytest.mark.parametrize("row", ["expired", "revoked", "suspended", "unknown"])
def test_bad_credentials_never_reach_a_decision(world, row):
    """The 401 rows of the live matrix: such a token yields no actor at all (the request is refused as
    bad credentials before anything is authorized), never an anonymous one."""
    user = create_user(f"bad-{row}")
    token, secret = issue_token(user, FULL, expires_in=-dt.timedelta(hours=1) if row == "expired" else None)
    if row == "revoked":
        Token.update(revoked_at=utcnow()).where(Token.id == token.id).execute()
    if row == "suspended":
        Account.update(suspended=True).where(Account.id == user.id).execute()
    if row == "unknown":
        secret += "x"
    assert find_token(secret) is None


SCOPE_TABLE = [
    # scopes                                                       R      W      D
    ((),                                                           False, False, False),
    (("read:packages",),                                           True,  False, False),
    (("write:packages",),                                          True,  True,  False),
    (("delete:packages",),                                         False, False, False),
    (("repo",),                                                    False, False, False),
    (("delete:packages", "repo"),                                  False, False, False),
    (("read:packages", "delete:packages"),                         True,  False, False),
    (("read:packages", "repo"),                                    True,  False, False),
    (("read:packages", "delete:packages", "repo"),                 True,  False, True),
    (("write:packages", "delete:packages", "repo"),                True,  True,  True),
    (("read:packages", "write:packages", "delete:packages", "repo"), True, True,  True),
]


@pytest.mark.parametrize(("scopes", "read", "write", "delete"),
                         [pytest.param(*row, id=",".join(row[0]) or "no-scopes") for row in SCOPE_TABLE])
def test_scopes_allow(scopes, read, write, delete):
    """write:packages includes reading; deleting needs delete:packages and repo besides reading."""
    granted = frozenset(scopes)
    assert [scopes_allow(granted, action) for action in ACTIONS.values()] == [read, write, delete]


def test_repository_role(world):
    repository = world.repositories["private"]
    users = world.users
    assert repository_role(None, repository) is None
    assert repository_role(users["stranger"], repository) is None
    assert repository_role(users["member"], repository) is None  # membership alone gives no role
    assert repository_role(users["reader"], repository) == "read"
    assert repository_role(users["writer"], repository) == "write"
    assert repository_role(users["keeper"], repository) == "admin"
    assert repository_role(users["boss"], repository) == "admin"  # organization owners
    assert repository_role(users["root"], repository) == "admin"  # site administrators


def test_an_organization_member_promoted_to_owner_becomes_admin(world):
    promoted = create_user("promoted")
    add_member(world.org, promoted, "member")
    repository = world.repositories["private"]
    actor = Actor(user=promoted)
    assert authorize(actor, repository, Action.READ, anonymous_read=True).outcome is Outcome.NOT_FOUND
    add_member(world.org, promoted, "owner")
    assert repository_role(promoted, repository) == "admin"
    assert authorize(actor, repository, Action.DELETE, anonymous_read=True).allowed


def test_a_user_owns_the_repositories_of_their_own_account(world):
    owner = create_user("solo")
    repository = create_repository(owner, "secret", "private")
    token = issue_token(owner, FULL)[0]
    for action in Action:
        assert authorize(Actor(owner, token), repository, action, anonymous_read=True).allowed
    assert authorize(world.actors["org-owner"], repository, Action.READ,
                     anonymous_read=True).outcome is Outcome.NOT_FOUND  # acme's owner is nobody here
    assert authorize(world.actors["site-admin"], repository, Action.DELETE, anonymous_read=True).allowed


def test_a_job_token_keeps_the_limits_of_its_scopes_on_its_own_repository(world):
    repository = world.repositories["private"]
    job = issue_token(world.users["maint"], ["read:packages"], repository=repository)[0]
    actor = Actor(world.users["maint"], job)
    assert authorize(actor, repository, Action.READ, anonymous_read=True).allowed
    decision = authorize(actor, repository, Action.WRITE, anonymous_read=True)
    assert (decision.outcome, decision.message) == (Outcome.FORBIDDEN, SCOPE_MESSAGES["W"])


def test_a_site_admins_job_token_elsewhere_is_a_strangers(world):
    """Even a site administrator's job token is confined to its repository."""
    job = issue_token(world.users["root"], FULL, repository=world.elsewhere)[0]
    actor = Actor(world.users["root"], job)
    private, public = world.repositories["private"], world.repositories["public"]
    assert authorize(actor, private, Action.READ, anonymous_read=True).outcome is Outcome.NOT_FOUND
    assert authorize(actor, public, Action.READ, anonymous_read=True).allowed
    decision = authorize(actor, public, Action.WRITE, anonymous_read=True)
    assert decision.outcome is Outcome.FORBIDDEN
    assert decision.message == ("root needs write access to acme/perm-public to publish to it, "
                                "and this token acts on acme/perm-elsewhere only")
    assert authorize(actor, world.elsewhere, Action.DELETE, anonymous_read=True).allowed


@pytest.mark.parametrize("on", [True, False])
def test_authorize_listing_refuses_only_who_may_read_nothing(world, on):
    maint = world.users["maint"]
    assert authorize_listing(ANONYMOUS, anonymous_read=True).allowed
    assert authorize_listing(ANONYMOUS, anonymous_read=False).outcome is Outcome.UNAUTHENTICATED
    assert authorize_listing(Actor(maint, issue_token(maint, ["read:packages"])[0]), anonymous_read=on).allowed
    assert authorize_listing(Actor(maint, issue_token(maint, ["write:packages"])[0]), anonymous_read=on).allowed
    assert authorize_listing(Actor(maint), anonymous_read=on).allowed  # a browser session
    decision = authorize_listing(Actor(maint, issue_token(maint, ["repo"])[0]), anonymous_read=on)
    assert (decision.outcome, decision.message) == (Outcome.FORBIDDEN, SCOPE_MESSAGES["R"])

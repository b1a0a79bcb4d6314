"""The actors of the in-process permission matrices: the organization acme, a repository per
visibility, and a token for every kind of actor DESIGN.md's "Who may do what" distinguishes."""

from __future__ import annotations

import datetime as dt

from appliance.accounts.service import add_member, create_organization, create_repository, create_user, grant
from appliance.auth.tokens import hash_secret, issue_token
from appliance.models import Account, Token
from appliance.models.base import utcnow

FULL = ["read:packages", "write:packages", "delete:packages", "repo"]


def arrange_actors(repositories: dict[str, str]) -> dict[tuple[str, str], str | None]:
    """Create acme's repositories (visibility -> name) and the actors; the token of each actor for
    each visibility (job tokens differ per repository; None is anonymous). Needs an app context."""
    owner = create_user("acme-owner")
    acme = create_organization("acme", owner)
    users = {login: create_user(login, site_admin=(login == "site-admin"))
             for login in ("maint", "stranger", "collab-read", "collab-write", "collab-admin", "site-admin",
                           "suspended", "org-owner", "other")}
    add_member(acme, users["org-owner"], "owner")
    repos = {v: create_repository(acme, name, v) for v, name in repositories.items()}
    elsewhere = create_repository(acme, "perm-elsewhere", "private")
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

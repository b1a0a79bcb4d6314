"""May this actor do this? The packages service asks `appliance.auth.permissions` through these, with
the appliance's runtime `anonymous_read`, so no face or format decides access on its own."""
from __future__ import annotations

from peewee import Expression

from appliance.accounts.service import find_account
from appliance.auth.permissions import (
    Action,
    Actor,
    Decision,
    ListingGrant,
    Outcome,
    authorize,
    authorize_listing,
    listing_grant,
    repositories_allowing,
)
from appliance.models.repositories import Repository
from appliance.packages.errors import AccessDenied, FormatDisabled, PackageNotFound, VisibilityNotOffered
from appliance.settings import current_settings


def decide(actor: Actor, repository: Repository | None, action: Action) -> Decision:
    """The decision for `action` on the packages of `repository` (None: no such repository or package)."""
    return authorize(actor, repository, action, anonymous_read=current_settings()["anonymous_read"])


def check_access(actor: Actor, repository: Repository | None, action: Action) -> None:
    """AccessDenied (401 anonymous, 404 outsider, 403 short of a scope or role) unless allowed; a write
    to a repository of a visibility the edition does not offer is VisibilityNotOffered."""
    decision = decide(actor, repository, action)
    if not decision.allowed:
        raise AccessDenied(decision)
    if action is Action.WRITE:
        edition = current_settings().edition
        if repository.visibility not in edition.visibilities:
            raise VisibilityNotOffered(
                f"{repository.full_name} is {repository.visibility}, which the {edition.name} edition does not "
                f"offer ({', '.join(edition.visibilities)}): nothing can be published to it until a site "
                f"administrator changes its visibility")


def is_allowed(actor: Actor, repository: Repository | None, action: Action) -> bool:
    """Whether the actor may do `action`, for protocols that grant ahead of the request (Docker's
    token endpoint) or quietly skip what is not allowed (a cross-repository mount)."""
    return decide(actor, repository, action).allowed


def hidden_from(actor: Actor, repository: Repository) -> bool:
    """The actor is signed in and may not see the repository: its packages are answered as if they
    did not exist."""
    return decide(actor, repository, Action.READ).outcome is Outcome.NOT_FOUND


def check_listing(actor: Actor) -> None:
    """AccessDenied for the actors who may read no package at all (anonymous with anonymous_read off,
    a token without a reading scope), before listing an owner's or the appliance's packages."""
    decision = authorize_listing(actor, anonymous_read=current_settings()["anonymous_read"])
    if not decision.allowed:
        raise AccessDenied(decision)


def deny_missing(actor: Actor) -> AccessDenied:
    """What asking for something that does not exist answers: 401 anonymous, 404 signed in."""
    return AccessDenied(decide(actor, None, Action.READ))


def check_signed_in(actor: Actor) -> None:
    """AccessDenied (401) for anonymous callers, before reading an upload: nobody publishes anonymously,
    whatever the upload holds."""
    if actor.is_anonymous:
        raise deny_missing(actor)


def check_feed_reader(actor: Actor, owner_login: str, *, challenge_anonymous: bool = False) -> None:
    """Before a document about all of an owner's packages (a feed, a search): anonymous callers are
    asked to sign in (401) when nothing is public to them (no such owner, or `anonymous_read` off), and
    always with `challenge_anonymous`, for clients that send credentials only when challenged and would
    otherwise quietly see only the public packages. PackageNotFound when there is no such owner."""
    exists = find_account(owner_login) is not None
    readable = exists and current_settings()["anonymous_read"]
    if actor.is_anonymous and (challenge_anonymous or not readable):
        raise deny_missing(actor)
    if not exists:
        raise PackageNotFound(f"no user or organization named {owner_login}")


def grant_of(actor: Actor, action: Action) -> ListingGrant:
    """`repositories_where` in two parts, for a listing compiled once per shape (queries.list_packages)."""
    return listing_grant(actor, action, anonymous_read=current_settings()["anonymous_read"])


def repositories_where(actor: Actor, action: Action) -> Expression:
    """A condition on Repository: where the actor may do `action` (the same rules, in SQL)."""
    return repositories_allowing(actor, action, anonymous_read=current_settings()["anonymous_read"])


def check_format_enabled(fmt: str) -> None:
    if not current_settings().format_enabled(fmt):
        raise FormatDisabled(f"the {fmt} registry is switched off on this appliance by its site administrators "
                             f"(setting formats.{fmt}.enabled)")

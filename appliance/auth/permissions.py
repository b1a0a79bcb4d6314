"""The one place that decides what an actor may do with a repository's packages.

Every protocol asks `authorize`; none decides on its own. The rules are DESIGN.md's table: the token's
scopes AND the user's role on the repository, with visibility deciding who can read.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from peewee import SQL, Expression

from appliance.auth.recent import remembered
from appliance.models.accounts import Account, OrganizationMember
from appliance.models.repositories import ADMIN, INTERNAL, PUBLIC, READ, WRITE, Collaborator, Repository
from appliance.models.tokens import DELETE_PACKAGES, READ_PACKAGES, REPO, WRITE_PACKAGES, Token

ROLE_RANK = {None: 0, READ: 1, WRITE: 2, ADMIN: 3}


class Action(enum.Enum):
    READ = "read"  # install, pull, view
    WRITE = "write"  # publish a new version, move tags
    DELETE = "delete"  # delete or restore a version or package


REQUIRED_ROLE = {Action.READ: READ, Action.WRITE: WRITE, Action.DELETE: ADMIN}


def scopes_allow(scopes: frozenset[str], action: Action) -> bool:
    if action is Action.READ:
        return bool(scopes & {READ_PACKAGES, WRITE_PACKAGES})  # write:packages includes reading
    if action is Action.WRITE:
        return WRITE_PACKAGES in scopes
    return {DELETE_PACKAGES, REPO} <= scopes and bool(scopes & {READ_PACKAGES, WRITE_PACKAGES})


MISSING_SCOPES_HINT = {
    Action.READ: "read:packages",
    Action.WRITE: "write:packages",
    Action.DELETE: "delete:packages, read:packages and repo",
}


@dataclass(frozen=True)
class Actor:
    """Who is asking: a user (or nobody) and, when they came with a token, the token's limits."""

    user: Account | None = None
    token: Token | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user is None

    @property
    def scopes(self) -> frozenset[str] | None:
        """None for a signed-in browser session, which carries the user's full rights."""
        return self.token.scope_set if self.token is not None else None

    @property
    def login(self) -> str:
        return self.user.login if self.user is not None else ""


ANONYMOUS = Actor()


class Outcome(enum.Enum):
    ALLOWED = 200
    UNAUTHENTICATED = 401  # send credentials: the client must be challenged
    FORBIDDEN = 403  # you can see it, but may not do this
    NOT_FOUND = 404  # as if it did not exist


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED


ALLOWED = Decision(Outcome.ALLOWED)


def repository_role(user: Account | None, repository: Repository) -> str | None:
    """The user's role on the repository from ownership, organization ownership or collaboration."""
    if user is None:
        return None
    if user.site_admin or repository.owner_id == user.id:
        return ADMIN
    # A client asks for one repository's packages many times a second: its role is kept for the second.
    return remembered(("role", user.id, repository.id, repository.owner_id),
                      lambda: _granted_role(user, repository), keep=lambda _role: True)


def _roles_granted(user: Account) -> tuple[tuple[int, ...], tuple[tuple[int, str], ...]]:
    """The organizations `user` owns and the (repository, role) of each collaboration: what grants a role
    beyond owning the repository. Kept for the second, as `repository_role`'s answers are: a client
    sending its token to an index of many packages asks for these many times a second."""
    return remembered(("roles granted", user.id), lambda: (
        tuple(m.organization_id for m in OrganizationMember.select(OrganizationMember.organization)
              .where((OrganizationMember.user == user.id) & (OrganizationMember.role == "owner"))),
        tuple((c.repository_id, c.role) for c in Collaborator.select(Collaborator.repository, Collaborator.role)
              .where(Collaborator.user == user.id))), keep=lambda _grants: True)


def _granted_role(user: Account, repository: Repository) -> str | None:
    if repository.owner.is_organization:
        membership = OrganizationMember.get_or_none(
            (OrganizationMember.organization == repository.owner_id) & (OrganizationMember.user == user.id)
        )
        if membership is not None and membership.role == "owner":
            return ADMIN
    collaborator = Collaborator.get_or_none(
        (Collaborator.repository == repository.id) & (Collaborator.user == user.id)
    )
    return collaborator.role if collaborator is not None else None


def repository_admins(repository: Repository) -> list[Account]:
    """Who holds the admin role on the repository by `repository_role`'s rules, site admins aside (they
    administer every repository, and a package's owners are the people of its repository): the owning
    user, or the owning organization's owners, and admin collaborators; active accounts, by login."""
    owners = (Account.id.in_(OrganizationMember.select(OrganizationMember.user).where(
        (OrganizationMember.organization == repository.owner_id) & (OrganizationMember.role == "owner")))
        if repository.owner.is_organization else Account.id == repository.owner_id)
    collaborators = Account.id.in_(Collaborator.select(Collaborator.user).where(
        (Collaborator.repository == repository.id) & (Collaborator.role == ADMIN)))
    return list(Account.select().where((owners | collaborators) & (Account.suspended == False))
                .order_by(Account.lower_login))


def authorize(actor: Actor, repository: Repository | None, action: Action, *, anonymous_read: bool) -> Decision:
    """May `actor` do `action` on the packages of `repository` (None: no such repository or package)?"""
    if repository is None:
        if actor.is_anonymous:
            return Decision(Outcome.UNAUTHENTICATED, "authentication required")
        return Decision(Outcome.NOT_FOUND, "not found")

    role = repository_role(actor.user, repository)
    # A job token reaches its own repository only; elsewhere its user counts as a stranger.
    job_token_elsewhere = actor.token is not None and actor.token.repository_id not in (None, repository.id)
    if job_token_elsewhere:
        role = None

    can_see = (
        ROLE_RANK[role] >= ROLE_RANK[READ]
        or (repository.visibility == PUBLIC and (anonymous_read or not actor.is_anonymous))
        or (repository.visibility == INTERNAL and not actor.is_anonymous)
    )
    if not can_see:
        if actor.is_anonymous:
            return Decision(Outcome.UNAUTHENTICATED, "authentication required")
        return Decision(Outcome.NOT_FOUND, "not found")

    if actor.scopes is not None and not scopes_allow(actor.scopes, action):
        return Decision(
            Outcome.FORBIDDEN,
            f"this token lacks the scope for this: it needs {MISSING_SCOPES_HINT[action]}",
        )
    if action is Action.READ:
        return ALLOWED
    if actor.is_anonymous:
        return Decision(Outcome.UNAUTHENTICATED, "authentication required")
    if ROLE_RANK[role] < ROLE_RANK[REQUIRED_ROLE[action]]:
        verb = "publish to" if action is Action.WRITE else "delete packages of"
        message = f"{actor.login} needs {REQUIRED_ROLE[action]} access to {repository.full_name} to {verb} it"
        if job_token_elsewhere:
            # The user may well have that role: what stands in the way is the token.
            message += f", and this token acts on {actor.token.repository.full_name} only"
        return Decision(Outcome.FORBIDDEN, message)
    return ALLOWED


def authorize_listing(actor: Actor, *, anonymous_read: bool) -> Decision:
    """May `actor` list an owner's packages at all (an index of every package it may read)?

    Which packages the list holds is `authorize` per repository; this only refuses the actors who may
    read none in any case, the way `authorize` would refuse them for each.
    """
    if actor.is_anonymous and not anonymous_read:
        return Decision(Outcome.UNAUTHENTICATED, "authentication required")
    if actor.scopes is not None and not scopes_allow(actor.scopes, Action.READ):
        return Decision(Outcome.FORBIDDEN,
                        f"this token lacks the scope for this: it needs {MISSING_SCOPES_HINT[Action.READ]}")
    return ALLOWED


@dataclass(frozen=True)
class ListingGrant:
    """What `repositories_allowing` needs of an actor, split in two so that a listing's statement is
    compiled once per `shape` (db.Statement) and run with each actor's `values`: (user id, organizations
    the user owns, repositories the user collaborates on with the role required, job token's repository)."""

    shape: tuple
    values: tuple


NO_GRANT_VALUES = (None, (), (), None)


def listing_grant(actor: Actor, action: Action, *, anonymous_read: bool) -> ListingGrant:
    if actor.scopes is not None and not scopes_allow(actor.scopes, action):
        return ListingGrant(("nothing",), NO_GRANT_VALUES)
    if actor.is_anonymous:
        public = action is Action.READ and anonymous_read
        return ListingGrant(("public",) if public else ("nothing",), NO_GRANT_VALUES)
    user = actor.user
    required = REQUIRED_ROLE[action]
    roles = [role for role, rank in ROLE_RANK.items() if role and rank >= ROLE_RANK[required]]
    if user.site_admin:
        owned_organizations, collaborating = (), ()
    else:
        # The user's grants as lists of ids, not subqueries: what building the query cost was most of an
        # authenticated index request (RubyGems' /versions), and `repository_role` reads the same.
        owned_organizations, collaborations = _roles_granted(user)
        collaborating = tuple(repository for repository, role in collaborations if role in roles)
    job_repository = actor.token.repository_id if actor.token is not None else None
    shape = ("roles", bool(user.site_admin), bool(owned_organizations), bool(collaborating),
             job_repository is not None, action is Action.READ)
    return ListingGrant(shape, (user.id, owned_organizations, collaborating, job_repository))


def grant_condition(shape: tuple, user_id, organizations, repositories, job_repository) -> Expression:
    """The condition on Repository of a ListingGrant: its values as they are, or as a Statement's nodes."""
    if shape[0] == "nothing":
        return SQL("1 = 0")
    if shape[0] == "public":
        return Repository.visibility == PUBLIC
    _, site_admin, has_organizations, has_repositories, has_job_repository, read = shape
    if site_admin:
        has_role = SQL("1 = 1")
    else:
        has_role = Repository.owner == user_id
        if has_organizations:
            has_role |= Repository.owner.in_(organizations)
        if has_repositories:
            has_role |= Repository.id.in_(repositories)
    if has_job_repository:
        # A job token: its user's roles count on its own repository only.
        has_role = has_role & (Repository.id == job_repository)
    if not read:
        return has_role
    return has_role | Repository.visibility.in_([PUBLIC, INTERNAL])


def repositories_allowing(actor: Actor, action: Action, *, anonymous_read: bool) -> Expression:
    """`authorize` as a condition on Repository, for queries that list: true exactly for the repositories
    where `authorize(actor, repository, action)` allows, so listings are filtered and counted in SQL
    while the rules stay here, next to the function they mirror (a test holds the two to the same table).
    """
    grant = listing_grant(actor, action, anonymous_read=anonymous_read)
    return grant_condition(grant.shape, *grant.values)


def may_administer_site(actor: Actor) -> Decision:
    """May `actor` use the management console (settings, users, maintenance, ...)? Site administrators in a
    browser session only; to anyone else the console does not exist (a token never reaches it)."""
    if actor.is_anonymous:
        return Decision(Outcome.UNAUTHENTICATED, "authentication required")
    if actor.token is not None or not actor.user.site_admin or actor.user.suspended:
        return Decision(Outcome.NOT_FOUND, "not found")
    return ALLOWED


def may_see_billing(actor: Actor, owner: Account | None) -> Decision:
    """May `actor` see the owner's billing (usage, spending limit) in a browser session? The user
    themself, an organization's owners, and site administrators; to anyone else it does not exist."""
    if actor.is_anonymous:
        return Decision(Outcome.UNAUTHENTICATED, "authentication required")
    user = actor.user
    if owner is None or actor.token is not None or user.suspended:
        return Decision(Outcome.NOT_FOUND, "not found")
    if user.site_admin or user.id == owner.id:
        return ALLOWED
    if owner.is_organization and OrganizationMember.select().where(
            (OrganizationMember.organization == owner.id) & (OrganizationMember.user == user.id)
            & (OrganizationMember.role == "owner")).exists():
        return ALLOWED
    return Decision(Outcome.NOT_FOUND, "not found")

"""Users, organizations and repositories: the one write path for them (CLI, console and API call it)."""
from __future__ import annotations

import re

from peewee import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from appliance.db import Statement, database
from appliance.models.accounts import ORGANIZATION, USER, Account, OrganizationMember
from appliance.models.repositories import ROLES, VISIBILITIES, Collaborator, Repository


class AccountError(Exception):
    """A request about accounts or repositories that cannot be done; the message says why."""


class NameTaken(AccountError):
    """A login, or a repository name of its owner, that exists already."""


class InvalidName(AccountError):
    """A login or repository name outside the rules (GitHub's), or a full name that is not OWNER/NAME."""


class InvalidChoice(AccountError):
    """A role or visibility that is not one of those there are."""


class WrongAccountKind(AccountError):
    """A user where an organization is meant, or the other way round."""


class AccountNotFound(AccountError):
    pass


class RepositoryNotFound(AccountError):
    pass


# GitHub's rules: letters, digits and single hyphens, not at either end.
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def _check_login(login: str) -> None:
    if not LOGIN_RE.match(login):
        raise InvalidName(
            f"invalid name {login!r}: use letters, digits and single hyphens, at most 39 characters"
        )


ACCOUNT_BY_LOGIN = Statement(lambda lower_login: Account.select().where(Account.lower_login == lower_login).limit(1))


def find_account(login: str) -> Account | None:
    return ACCOUNT_BY_LOGIN.first(login.lower())


def get_account(login: str) -> Account:
    account = find_account(login)
    if account is None:
        raise AccountNotFound(f"no user or organization named {login!r}")
    return account


def get_user(login: str) -> Account:
    account = get_account(login)
    if account.is_organization:
        raise WrongAccountKind(f"{account.login} is an organization, not a user")
    return account


def create_user(login: str, *, email: str | None = None, password: str | None = None,
                site_admin: bool = False) -> Account:
    _check_login(login)
    try:
        return Account.create(
            login=login,
            lower_login=login.lower(),
            kind=USER,
            email=email,
            password_hash=generate_password_hash(password) if password else None,
            site_admin=site_admin,
        )
    except IntegrityError:
        raise NameTaken(f"the name {login!r} is already taken") from None


def set_password(user: Account, password: str) -> None:
    """A new password ends the user's browser sessions everywhere (their epoch moves on)."""
    (Account.update(password_hash=generate_password_hash(password), session_epoch=Account.session_epoch + 1)
     .where(Account.id == user.id).execute())


def check_password(user: Account, password: str) -> bool:
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


def create_organization(login: str, owner: Account) -> Account:
    _check_login(login)
    with database.atomic():
        try:
            org = Account.create(login=login, lower_login=login.lower(), kind=ORGANIZATION)
        except IntegrityError:
            raise NameTaken(f"the name {login!r} is already taken") from None
        OrganizationMember.create(organization=org, user=owner, role="owner")
    return org


def add_member(org: Account, user: Account, role: str = "member") -> OrganizationMember:
    if not org.is_organization:
        raise WrongAccountKind(f"{org.login} is a user, not an organization")
    if role not in ("owner", "member"):
        raise InvalidChoice("an organization role is owner or member")
    member, created = OrganizationMember.get_or_create(organization=org, user=user, defaults={"role": role})
    if not created and member.role != role:
        member.role = role
        member.save()
    return member


def split_full_name(full_name: str) -> tuple[str, str]:
    owner, sep, name = full_name.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise InvalidName(f"expected OWNER/NAME, got {full_name!r}")
    return owner, name


REPOSITORY_BY_NAME = Statement(lambda owner, name: Repository.select(Repository, Account).join(Account)
                               .where((Account.lower_login == owner) & (Repository.lower_name == name)).limit(1))


def find_repository(owner_login: str, name: str) -> Repository | None:
    return REPOSITORY_BY_NAME.first(owner_login.lower(), name.lower())


def get_repository(full_name: str) -> Repository:
    owner, name = split_full_name(full_name)
    repository = find_repository(owner, name)
    if repository is None:
        raise RepositoryNotFound(f"no repository {full_name}")
    return repository


def create_repository(owner: Account, name: str, visibility: str = "public", description: str = "") -> Repository:
    if not REPOSITORY_RE.match(name) or name in (".", ".."):
        raise InvalidName(f"invalid repository name {name!r}: use letters, digits, '.', '-' and '_'")
    if visibility not in VISIBILITIES:
        raise InvalidChoice(f"visibility is one of {', '.join(VISIBILITIES)}")
    check_visibility_allowed(visibility)
    try:
        return Repository.create(owner=owner, name=name, lower_name=name.lower(), visibility=visibility,
                                 description=description)
    except IntegrityError:
        raise NameTaken(f"{owner.login}/{name} already exists") from None


def grant(repository: Repository, user: Account, role: str) -> Collaborator:
    if role not in ROLES:
        raise InvalidChoice(f"a repository role is one of {', '.join(ROLES)}")
    if user.is_organization:
        raise WrongAccountKind(f"{user.login} is an organization; grant roles to users")
    collaborator, created = Collaborator.get_or_create(repository=repository, user=user, defaults={"role": role})
    if not created and collaborator.role != role:
        collaborator.role = role
        collaborator.save()
    return collaborator


# ---- site administration (the console and the CLI call these; both write the audit log around them) ----


def check_visibility_allowed(visibility: str) -> None:
    """Refuse a visibility the edition in force does not offer (DESIGN.md's editions table)."""
    from appliance.settings import current_settings

    edition = current_settings().edition
    if visibility not in edition.visibilities:
        raise AccountError(f"the {edition.name} edition offers {', '.join(edition.visibilities)} repositories, "
                           f"not {visibility}")


def set_visibility(repository: Repository, visibility: str) -> Repository:
    if visibility not in VISIBILITIES:
        raise AccountError(f"visibility is one of {', '.join(VISIBILITIES)}")
    check_visibility_allowed(visibility)
    Repository.update(visibility=visibility).where(Repository.id == repository.id).execute()
    repository.visibility = visibility
    return repository


def set_suspended(user: Account, suspended: bool) -> None:
    """Suspend (or let back) a user: their browser sessions end and their tokens stop at once; nothing of
    theirs is deleted."""
    changes = {"suspended": suspended}
    if suspended:
        changes["session_epoch"] = Account.session_epoch + 1
    Account.update(**changes).where(Account.id == user.id).execute()
    user.suspended = suspended


class LastSiteAdmin(AccountError):
    pass


def set_site_admin(user: Account, site_admin: bool) -> None:
    """Promote or demote; the last active site administrator cannot be demoted (nobody could undo it)."""
    with database.atomic():
        if not site_admin and user.site_admin:
            others = (Account.select().where((Account.site_admin == True) & (Account.suspended == False)
                                             & (Account.id != user.id)).count())
            if others == 0:
                raise LastSiteAdmin(f"{user.login} is the last site administrator: promote another first")
        Account.update(site_admin=site_admin).where(Account.id == user.id).execute()
    user.site_admin = site_admin


def search_users(text: str = "", *, offset: int = 0, limit: int = 50) -> tuple[list[Account], int]:
    """Users whose login, name or e-mail contains `text`, by login; and how many match in all."""
    query = Account.select().where(Account.kind == USER)
    if text:
        text = text.strip().lower()
        query = query.where(Account.lower_login.contains(text) | Account.email.contains(text)
                            | Account.name.contains(text))
    return list(query.order_by(Account.lower_login).offset(offset).limit(limit)), query.count()


def search_organizations(text: str = "", *, offset: int = 0, limit: int = 50) -> tuple[list[Account], int]:
    query = Account.select().where(Account.kind == ORGANIZATION)
    if text:
        query = query.where(Account.lower_login.contains(text.strip().lower()))
    return list(query.order_by(Account.lower_login).offset(offset).limit(limit)), query.count()


def members(org: Account) -> list[OrganizationMember]:
    return list(OrganizationMember.select(OrganizationMember, Account)
                .join(Account, on=(OrganizationMember.user == Account.id))
                .where(OrganizationMember.organization == org.id).order_by(Account.lower_login))


def remove_member(org: Account, user: Account) -> None:
    with database.atomic():
        owners = [m for m in members(org) if m.role == "owner"]
        if [m.user_id for m in owners] == [user.id]:
            raise AccountError(f"{user.login} is the last owner of {org.login}: make another member owner first")
        OrganizationMember.delete().where((OrganizationMember.organization == org.id)
                                          & (OrganizationMember.user == user.id)).execute()


def repositories_of(owner: Account) -> list[Repository]:
    return list(Repository.select().where(Repository.owner == owner.id).order_by(Repository.lower_name))


def search_repositories(text: str = "", *, offset: int = 0, limit: int = 50) -> tuple[list[Repository], int]:
    query = Repository.select(Repository, Account).join(Account)
    if text:
        owner, _, name = text.strip().lower().rpartition("/")
        query = query.where(Repository.lower_name.contains(name))
        if owner:
            query = query.where(Account.lower_login.contains(owner))
    return list(query.order_by(Account.lower_login, Repository.lower_name).offset(offset).limit(limit)), query.count()


def collaborators(repository: Repository) -> list[Collaborator]:
    return list(Collaborator.select(Collaborator, Account).join(Account, on=(Collaborator.user == Account.id))
                .where(Collaborator.repository == repository.id).order_by(Account.lower_login))


def remove_collaborator(repository: Repository, user: Account) -> None:
    Collaborator.delete().where((Collaborator.repository == repository.id) & (Collaborator.user == user.id)).execute()


def repositories_with_visibility_not_in(visibilities: tuple[str, ...]) -> list[Repository]:
    """Repositories whose visibility is not one of these (an edition's): kept, listed for the admin."""
    return list(Repository.select(Repository, Account).join(Account)
                .where(Repository.visibility.not_in(visibilities))
                .order_by(Account.lower_login, Repository.lower_name))

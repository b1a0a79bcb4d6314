"""The schema: GitHub's names and shapes for the subset of its GraphQL API that packages need."""
from __future__ import annotations

import base64
import datetime as dt
import enum
from collections.abc import Callable
from typing import NewType

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from appliance import packages as read_model
from appliance import packages as service
from appliance.accounts.service import find_account, find_repository
from appliance.auth.permissions import Action, Actor, Outcome, authorize
from appliance.github.urls import node_id, parse_node_id, web_origin
from appliance.models.packages import Package as PackageRow
from appliance.models.packages import PackageVersion as VersionRow
from appliance.settings import FORMATS, current_settings

URI = NewType("URI", str)
SCALARS = {URI: strawberry.scalar(name="URI", description="An RFC 3986, RFC 3987, and RFC 6570 (level 4) "
                                                          "compliant URI.", serialize=str, parse_value=str)}


class GitHubError(GraphQLError):
    """An error with GitHub's `type` (NOT_FOUND, FORBIDDEN, INSUFFICIENT_SCOPES, ...)."""

    def __init__(self, message: str, kind: str):
        super().__init__(message, extensions={"type": kind})


def actor_of(info: Info) -> Actor:
    return info.context["actor"]


def denied(error: read_model.AccessDenied, what: str) -> GitHubError:
    if error.decision.outcome is Outcome.FORBIDDEN:
        scopes = "INSUFFICIENT_SCOPES" if "scope" in str(error) else "FORBIDDEN"
        return GitHubError(str(error), scopes)
    return GitHubError(f"Could not resolve to {what}.", "NOT_FOUND")


# ---- enums and inputs ----------------------------------------------------------------------------------


@strawberry.enum(description="The possible types of a package.")
class PackageType(enum.Enum):
    NPM = "npm"
    RUBYGEMS = "rubygems"
    MAVEN = "maven"
    DOCKER = "docker"
    NUGET = "nuget"


@strawberry.enum
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum
class PackageOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"


@strawberry.enum
class PackageVersionOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"


@strawberry.enum
class PackageFileOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"


@strawberry.enum
class RepositoryVisibility(enum.Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    INTERNAL = "internal"


@strawberry.input(description="Ways in which lists of packages can be ordered upon return.")
class PackageOrder:
    field: PackageOrderField | None = PackageOrderField.CREATED_AT
    direction: OrderDirection | None = OrderDirection.DESC


@strawberry.input(description="Ways in which lists of package versions can be ordered upon return.")
class PackageVersionOrder:
    field: PackageVersionOrderField | None = PackageVersionOrderField.CREATED_AT
    direction: OrderDirection | None = OrderDirection.DESC


@strawberry.input(description="Ways in which lists of package files can be ordered upon return.")
class PackageFileOrder:
    field: PackageFileOrderField | None = PackageFileOrderField.CREATED_AT
    direction: OrderDirection | None = OrderDirection.ASC


# ---- Relay connections -----------------------------------------------------------------------------------


@strawberry.type(description="Information about pagination in a connection.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:v2:{offset}".encode()).decode()


def offset_of(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        prefix, _, number = base64.b64decode(text.encode(), validate=True).decode().rpartition(":")
        if prefix == "cursor:v2" and number.isdigit():
            return int(number)
    except ValueError:
        pass
    raise GitHubError(f"`{text}` does not appear to be a valid cursor.", "INVALID_CURSOR_ARGUMENTS")


def window(total: int, first: int | None, after: str | None, last: int | None,
           before: str | None) -> tuple[int, int]:
    """The [start, end) offsets a Relay page asks for, within `total` items."""
    after_offset, before_offset = offset_of(after), offset_of(before)
    start = after_offset + 1 if after_offset is not None else 0
    end = min(before_offset, total) if before_offset is not None else total
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    return start, max(start, end)


PageFetcher = Callable[[int, int], "read_model.Page"]


def fetch_window(fetch: PageFetcher, first, after, last, before, *, reverse: bool = False):
    """Items [start, end) of a list the read model pages (newest first), with the total; `reverse`
    counts offsets from the other end (oldest first). At most three calls of `fetch`, each a page."""
    needs_total = reverse or last is not None and before is None
    total = fetch(1, 1).total if needs_total else None
    size = first if first is not None else last
    if total is None:
        start = (offset_of(after) + 1) if after else 0
        page = fetch(start // size + 1 if size else 1, size or 1) if size else fetch(1, 1)
        total = page.total
        begin, end = window(total, first, after, last, before)
    else:
        begin, end = window(total, first, after, last, before)
    lo, hi = (total - end, total - begin) if reverse else (begin, end)
    count = hi - lo
    items: list = []
    if count > 0:
        page_number = lo // count + 1
        page = fetch(page_number, count)
        items = page.items[lo - (page_number - 1) * count:]
        if len(items) < count and hi > page_number * count:
            items += fetch(page_number + 1, count).items
        items = items[:count]
    if reverse:
        items.reverse()
    return items, begin, end, total


def page_info(begin: int, end: int, total: int) -> PageInfo:
    return PageInfo(has_next_page=end < total, has_previous_page=begin > 0,
                    start_cursor=cursor(begin) if end > begin else None,
                    end_cursor=cursor(end - 1) if end > begin else None)


# ---- packages --------------------------------------------------------------------------------------------


@strawberry.type(description="Represents a object that contains package activity statistics such as downloads.")
class PackageStatistics:
    downloads_total_count: int


@strawberry.type(description="Represents a object that contains package version activity statistics such as downloads.")
class PackageVersionStatistics:
    downloads_total_count: int


@strawberry.interface(description="An object with an ID.")
class Node:
    id: strawberry.ID


@strawberry.type(description="A file in a package version.")
class PackageFile(Node):
    name: str
    size: int | None
    sha256: str | None
    updated_at: dt.datetime
    url: URI | None
    _version: strawberry.Private[read_model.VersionView]

    @strawberry.field(description="The package version this file belongs to.")
    def package_version(self) -> PackageVersion | None:
        return PackageVersion.of(self._version)


@strawberry.type
class PackageFileEdge:
    cursor: str
    node: PackageFile | None


@strawberry.type(description="The connection type for PackageFile.")
class PackageFileConnection:
    edges: list[PackageFileEdge | None] | None
    nodes: list[PackageFile | None] | None
    page_info: PageInfo
    total_count: int


@strawberry.type(description="Information about a specific package version.")
class PackageVersion(Node):
    version: str
    summary: str | None
    readme: str | None
    pre_release: bool
    platform: str | None
    _view: strawberry.Private[read_model.VersionView]

    @classmethod
    def of(cls, view: read_model.VersionView) -> PackageVersion:
        return cls(id=strawberry.ID(node_id("PackageVersion", view.id)), version=view.version,
                   summary=view.summary or None, readme=view.readme, pre_release=view.prerelease,
                   platform=view.platform, _view=view)

    @strawberry.field(description="List of files associated with this package version")
    def files(self, first: int | None = None, after: str | None = None, last: int | None = None,
              before: str | None = None, order_by: PackageFileOrder | None = None) -> PackageFileConnection:
        files = list(self._view.files)
        if order_by is not None and order_by.direction == OrderDirection.DESC:
            files.reverse()
        begin, end = window(len(files), first, after, last, before)
        origin = web_origin()
        nodes = [PackageFile(id=strawberry.ID(node_id("PackageFile", f.id)), name=f.name, size=f.size,
                             sha256=f.sha256, updated_at=f.created_at,
                             url=f"{origin}/_files/{f.id}/{f.name}", _version=self._view)
                 for f in files[begin:end]]
        return PackageFileConnection(
            edges=[PackageFileEdge(cursor=cursor(begin + i), node=n) for i, n in enumerate(nodes)], nodes=nodes,
            page_info=page_info(begin, end, len(files)), total_count=len(files))

    @strawberry.field(description="The package associated with this version.")
    def package(self) -> Package | None:
        return Package.of(self._view.package)

    @strawberry.field(description="Statistics about package activity.")
    def statistics(self) -> PackageVersionStatistics | None:
        return PackageVersionStatistics(downloads_total_count=self._view.downloads_total)


@strawberry.type
class PackageVersionEdge:
    cursor: str
    node: PackageVersion | None


@strawberry.type(description="The connection type for PackageVersion.")
class PackageVersionConnection:
    edges: list[PackageVersionEdge | None] | None
    nodes: list[PackageVersion | None] | None
    page_info: PageInfo
    total_count: int


class Siblings:
    """The packages of one page of a connection. A field asked of one of them (its versions, its latest
    version) is loaded for all of them at once and kept for the others: a fixed number of queries per
    field and arguments, not a set per package (N+1)."""

    def __init__(self, views: list[read_model.PackageView]) -> None:
        self.views = views
        self.loaded: dict[tuple, dict] = {}

    def load(self, key: tuple, fetch: Callable[[list[read_model.PackageView]], dict]) -> dict:
        if key not in self.loaded:
            self.loaded[key] = fetch(self.views)
        return self.loaded[key]


def _found(result):
    if isinstance(result, read_model.AccessDenied):
        raise result
    return result


@strawberry.type(description="Information for an uploaded package.")
class Package(Node):
    name: str
    package_type: PackageType
    _view: strawberry.Private[read_model.PackageView]
    _siblings: strawberry.Private[Siblings]

    @classmethod
    def of(cls, view: read_model.PackageView, siblings: Siblings | None = None) -> Package:
        return cls(id=strawberry.ID(node_id("Package", view.id)), name=view.name,
                   package_type=PackageType(view.format), _view=view, _siblings=siblings or Siblings([view]))

    def _named(self, info: Info, key: tuple, version_of: Callable[[read_model.PackageView], str | None]
               ) -> PackageVersion | None:
        actor = actor_of(info)
        loaded = self._siblings.load(key, lambda views: read_model.versions_named(
            actor, [(view, version_of(view)) for view in views if version_of(view) is not None]))
        found = _found(loaded.get(self._view.id))
        return PackageVersion.of(found) if found is not None else None

    @strawberry.field(description="Find the latest version for the package.")
    def latest_version(self, info: Info) -> PackageVersion | None:
        return self._named(info, ("latest",), lambda view: view.latest_version)

    @strawberry.field(description="Find package version by version string.")
    def version(self, info: Info, version: str) -> PackageVersion | None:
        return self._named(info, ("version", version), lambda view: version)

    @strawberry.field(description="list of versions for this package")
    def versions(self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None,
                 before: str | None = None,
                 order_by: PackageVersionOrder | None = None) -> PackageVersionConnection:
        actor = actor_of(info)
        ascending = order_by is not None and order_by.direction == OrderDirection.ASC

        def offsets(view: read_model.PackageView) -> tuple[int, int]:
            """The window's [start, end) among the versions newest first (the read model's order)."""
            begin, end = window(view.version_count, first, after, last, before)
            return (view.version_count - end, view.version_count - begin) if ascending else (begin, end)

        loaded = self._siblings.load(
            ("versions", first, after, last, before, ascending),
            lambda views: read_model.versions_in_windows(actor, [(view, *offsets(view)) for view in views]))
        items = list(_found(loaded[self._view.id]))
        if ascending:
            items.reverse()
        total = self._view.version_count
        begin, end = window(total, first, after, last, before)
        nodes = [PackageVersion.of(v) for v in items]
        return PackageVersionConnection(
            edges=[PackageVersionEdge(cursor=cursor(begin + i), node=n) for i, n in enumerate(nodes)],
            nodes=nodes, page_info=page_info(begin, end, total), total_count=total)

    @strawberry.field(description="The repository this package belongs to.")
    def repository(self) -> Repository | None:
        return Repository.of(self._view.repository)

    @strawberry.field(description="Statistics about package activity.")
    def statistics(self) -> PackageStatistics | None:
        return PackageStatistics(downloads_total_count=self._view.downloads_total)


@strawberry.type
class PackageEdge:
    cursor: str
    node: Package | None


@strawberry.type(description="The connection type for Package.")
class PackageConnection:
    edges: list[PackageEdge | None] | None
    nodes: list[Package | None] | None
    page_info: PageInfo
    total_count: int


def package_connection(info: Info, *, owner: str | None = None, repository: str | None = None,
                       first, after, last, before, names, order_by, package_type) -> PackageConnection:
    actor = actor_of(info)
    fmt = package_type.value if package_type is not None else None
    ascending = order_by is not None and order_by.direction == OrderDirection.ASC
    try:
        if names:
            items = _named_packages(actor, owner or repository.partition("/")[0], names, fmt, repository)
            begin, end = window(len(items), first, after, last, before)
            items, total = items[begin:end], len(items)
        else:
            items, begin, end, total = fetch_window(
                lambda page, per_page: read_model.list_packages(actor, owner=owner, repository=repository,
                                                              format=fmt, order="updated", page=page,
                                                              per_page=per_page),
                first, after, last, before, reverse=ascending)
    except read_model.AccessDenied as error:
        raise denied(error, "packages") from None
    siblings = Siblings(list(items))
    nodes = [Package.of(p, siblings) for p in items]
    return PackageConnection(edges=[PackageEdge(cursor=cursor(begin + i), node=n) for i, n in enumerate(nodes)],
                             nodes=nodes, page_info=page_info(begin, end, total), total_count=total)


def _named_packages(actor: Actor, owner: str, names: list[str | None], fmt: str | None,
                    repository: str | None) -> list[read_model.PackageView]:
    found = []
    for name in dict.fromkeys(n for n in names[:MAX_NAMES] if n):
        for each in ([fmt] if fmt else FORMATS):
            try:
                view = read_model.get_package(actor, owner, each, name)
            except (read_model.PackageNotFound, read_model.AccessDenied):
                continue
            if repository is None or view.repository.full_name.lower() == repository.lower():
                found.append(view)
    return found


MAX_NAMES = 20


def packages_field(scope: Callable) -> Callable:
    """The `packages(...)` field of an owner or a repository, with GitHub's arguments."""

    def resolve(self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None,
                before: str | None = None, names: list[str | None] | None = None,
                order_by: PackageOrder | None = None, package_type: PackageType | None = None,
                repository_id: strawberry.ID | None = None) -> PackageConnection:
        where = scope(self)
        if repository_id is not None:
            decoded = parse_node_id(repository_id)
            repository = service_repository_name(decoded[1]) if decoded and decoded[0] == "Repository" else None
            if repository is None:
                return PackageConnection(edges=[], nodes=[], page_info=page_info(0, 0, 0), total_count=0)
            where = {"repository": repository}
        return package_connection(info, first=first, after=after, last=last, before=before, names=names,
                                  order_by=order_by, package_type=package_type, **where)

    return strawberry.field(resolver=resolve, description="A list of packages under the owner.")


def service_repository_name(repository_id: int) -> str | None:
    from appliance.models.repositories import Repository as RepositoryRow

    row = RepositoryRow.get_or_none(RepositoryRow.id == repository_id)
    return row.full_name if row is not None else None


# ---- owners and repositories ------------------------------------------------------------------------------


@strawberry.interface(description="Represents an owner of a package.")
class PackageOwner(Node):
    login: str


@strawberry.interface(description="Represents an owner of a Repository.")
class RepositoryOwner(Node):
    login: str


@strawberry.type(description="A user is an individual's account on GitHub that owns repositories and can make new content.")
class User(PackageOwner, RepositoryOwner):
    url: URI
    packages: PackageConnection = packages_field(lambda self: {"owner": self.login})

    @classmethod
    def of(cls, login: str, ident: int) -> User:
        return cls(id=strawberry.ID(node_id("User", ident)), login=login, url=f"{web_origin()}/{login}")


@strawberry.type(description="An account on GitHub, with one or more owners, that has repositories, members and teams.")
class Organization(PackageOwner, RepositoryOwner):
    url: URI
    packages: PackageConnection = packages_field(lambda self: {"owner": self.login})

    @classmethod
    def of(cls, login: str, ident: int) -> Organization:
        return cls(id=strawberry.ID(node_id("Organization", ident)), login=login, url=f"{web_origin()}/{login}")


def owner_of(view: read_model.OwnerView) -> User | Organization:
    return (Organization if view.kind == "organization" else User).of(view.login, view.id)


@strawberry.type(description="A repository contains the content for a project.")
class Repository(Node):
    name: str
    name_with_owner: str
    is_private: bool
    visibility: RepositoryVisibility
    url: URI
    _view: strawberry.Private[read_model.RepositoryView]
    packages: PackageConnection = packages_field(lambda self: {"repository": self.name_with_owner})

    @classmethod
    def of(cls, view: read_model.RepositoryView) -> Repository:
        return cls(id=strawberry.ID(node_id("Repository", view.id)), name=view.name, name_with_owner=view.full_name,
                   is_private=view.visibility != "public", visibility=RepositoryVisibility(view.visibility),
                   url=f"{web_origin()}/{view.full_name}", _view=view)

    @strawberry.field(description="The User owner of the repository.")
    def owner(self) -> RepositoryOwner:
        return owner_of(self._view.owner)


# ---- the roots ---------------------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(description="The currently authenticated user.")
    def viewer(self, info: Info) -> User:
        user = actor_of(info).user
        return User.of(user.login, user.id)

    @strawberry.field(description="Lookup a user by login.")
    def user(self, login: str) -> User | None:
        account = find_account(login)
        if account is None or account.is_organization:
            raise GitHubError(f"Could not resolve to a User with the login of '{login}'.", "NOT_FOUND")
        return User.of(account.login, account.id)

    @strawberry.field(description="Lookup a organization by login.")
    def organization(self, login: str) -> Organization | None:
        account = find_account(login)
        if account is None or not account.is_organization:
            raise GitHubError(f"Could not resolve to an Organization with the login of '{login}'.", "NOT_FOUND")
        return Organization.of(account.login, account.id)

    @strawberry.field(description="Lookup a given repository by the owner and repository name.")
    def repository(self, info: Info, owner: str, name: str) -> Repository | None:
        row = find_repository(owner, name)
        decision = authorize(actor_of(info), row, Action.READ, anonymous_read=current_settings()["anonymous_read"])
        if decision.outcome in (Outcome.NOT_FOUND, Outcome.UNAUTHENTICATED):
            raise GitHubError(f"Could not resolve to a Repository with the name '{owner}/{name}'.", "NOT_FOUND")
        owner_view = read_model.OwnerView(id=row.owner.id, login=row.owner.login, kind=row.owner.kind)
        return Repository.of(read_model.RepositoryView(id=row.id, owner=owner_view, name=row.name,
                                                     full_name=row.full_name, visibility=row.visibility))


@strawberry.input(description="Autogenerated input type of DeletePackageVersion")
class DeletePackageVersionInput:
    package_version_id: strawberry.ID
    client_mutation_id: str | None = None


@strawberry.type(description="Autogenerated return type of DeletePackageVersion.")
class DeletePackageVersionPayload:
    client_mutation_id: str | None
    success: bool | None


def _version_row(global_id: str) -> VersionRow | None:
    decoded = parse_node_id(global_id)
    if decoded is None or decoded[0] != "PackageVersion":
        return None
    return (VersionRow.select(VersionRow, PackageRow).join(PackageRow)
            .where(VersionRow.id == decoded[1]).first())


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Delete a package version.")
    def delete_package_version(self, info: Info, input: DeletePackageVersionInput) -> DeletePackageVersionPayload:
        actor = actor_of(info)
        missing = GitHubError(f"Could not resolve to a node with the global id of '{input.package_version_id}'.",
                              "NOT_FOUND")
        row = _version_row(input.package_version_id)
        if row is None or row.deleted_at is not None:
            raise missing
        try:
            package = read_model.get_package(actor, row.package.owner.login, row.package.format, row.package.name)
            read_model.get_version(actor, package, version_id=row.id)
            service.delete_version(actor, row)
        except (read_model.PackageNotFound, read_model.VersionNotFound):
            raise missing from None
        except read_model.AccessDenied as error:
            if error.decision.outcome is Outcome.FORBIDDEN:
                raise denied(error, "a node") from None
            raise missing from None
        return DeletePackageVersionPayload(client_mutation_id=input.client_mutation_id, success=True)

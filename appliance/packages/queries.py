"""Reading packages for every face: the read model (`views`) loaded in batches, paged and counted in SQL,
with the actor's permission applied in the query, per repository (`access.repositories_where`).

Every query takes the Actor first and refuses as the registries do: AccessDenied carrying the Decision
(401 for anonymous, 404 for someone who may not see the repository, as if it did not exist).
"""
from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from peewee import JOIN, OP, SQL, Case, Expression, Join, NodeList, Select, fn

from appliance.accounts.service import find_account, find_repository
from appliance.auth.permissions import (
    Action,
    Actor,
    Decision,
    Outcome,
    grant_condition,
    repository_admins,
)
from appliance.db import Statement, database, is_sqlite
from appliance.models.accounts import Account
from appliance.models.audit import AuditEvent
from appliance.models.base import utcnow
from appliance.models.packages import Blob, DownloadCount, Package, PackageFile, PackageTag, PackageVersion
from appliance.models.repositories import Repository
from appliance.models.uploads import VersionSubject
from appliance.packages.access import (
    check_access,
    check_listing,
    deny_missing,
    grant_of,
    is_allowed,
    repositories_where,
)
from appliance.packages.descriptors import main_file_name, version_states
from appliance.packages.errors import (
    AccessDenied,
    VersionNotFound,
)
from appliance.packages.views import (
    DeletionRecord,
    FileView,
    OwnerView,
    PackageView,
    Page,
    RepositoryView,
    VersionView,
)

ACTIVE = "active"
DELETED = "deleted"
MAX_PER_PAGE = 1000
NOT_FOUND = Decision(Outcome.NOT_FOUND, "not found")
NO_VERSIONS = (0, 0, None, None)  # (live versions, downloads, newest live version, tags) of a package without versions


def _page_bounds(page: int, per_page: int) -> tuple[int, int]:
    return max(1, int(page)), min(max(1, int(per_page)), MAX_PER_PAGE)


def _state_action(state: str) -> Action:
    """Deleted packages and versions are shown to those who may restore them (delete rights)."""
    if state not in (ACTIVE, DELETED):
        raise ValueError(f"state is {ACTIVE!r} or {DELETED!r}, not {state!r}")
    return Action.DELETE if state == DELETED else Action.READ


# ---- building views, a batch at a time --------------------------------------------------------------


def _packages_query():
    return (Package.select(Package, Repository, Account)
            .join(Repository).join(Account, on=(Repository.owner == Account.id)))


def _json_rows(*columns):
    """An aggregate of the rows it sees as one JSON array, each row an array of `columns` (decoded by
    `_decoded_rows`): how a statement carries a version's files or a package's tags along with it."""
    if is_sqlite():
        return fn.json_group_array(fn.json_array(*columns))
    return fn.json_agg(fn.json_build_array(*columns))


def _decoded_rows(value) -> list[list]:
    """What `_json_rows` gave: JSON text on SQLite, a list already on PostgreSQL, NULL there for no rows."""
    if value is None or value == "[]":
        return []
    return json.loads(value) if isinstance(value, str) else value


def _package_details(ids) -> Select:
    """Per package of `ids` with a version: its live versions, its downloads, its newest live version and
    its tags (pointing at live versions, as JSON `_json_rows` of [tag, version]), one row each."""
    live = PackageVersion.deleted_at.is_null()
    live_id = Case(None, [(live, PackageVersion.id)], None)
    # Downloads of deleted (restorable) versions still count, as their per-day rows did.
    per_package = (PackageVersion.select(PackageVersion.package, fn.COUNT(live_id).alias("live"),
                                         fn.SUM(PackageVersion.downloads).alias("downloads"),
                                         fn.MAX(live_id).alias("newest_id"))
                   .where(PackageVersion.package.in_(ids)).group_by(PackageVersion.package).alias("per_package"))
    tagged = PackageVersion.alias("tagged")
    tags = (PackageTag.select(PackageTag.package, _json_rows(PackageTag.name, tagged.version).alias("tags"))
            .join(tagged, on=(PackageTag.version == tagged.id))
            .where(PackageTag.package.in_(ids) & tagged.deleted_at.is_null())
            .group_by(PackageTag.package).alias("package_tags"))
    newest = PackageVersion.alias("newest")
    return Select(from_list=[Join(Join(per_package, newest, JOIN.LEFT_OUTER, on=(newest.id == per_package.c.newest_id)),
                                  tags, JOIN.LEFT_OUTER, on=(tags.c.package_id == per_package.c.package_id))],
                  columns=[per_package.c.package_id, per_package.c.live.alias("package_live"),
                           per_package.c.downloads.alias("package_downloads"),
                           newest.version.alias("package_newest"), tags.c.tags.alias("package_tags")])


PACKAGE_DETAILS = Statement(_package_details)


# What a package's view shows of the package, its repository and the repository's owner, in this order:
# a listing selects these as tuples (model instances for 30 rows were a sixth of a list page's CPU).
PACKAGE_COLUMNS = (Package.id, Package.format, Package.name, Package.created_at, Package.updated_at,
                   Package.deleted_at, Repository.id, Repository.name, Repository.visibility, Account.id,
                   Account.login, Account.kind)


def _package_columns(row: Package) -> tuple:
    """PACKAGE_COLUMNS of a package selected with its repository and its owner (`_packages_query`)."""
    repository, owner = row.repository, row.repository.owner
    return (row.id, row.format, row.name, row.created_at, row.updated_at, row.deleted_at, repository.id,
            repository.name, repository.visibility, owner.id, owner.login, owner.kind)


def _package_view(columns: tuple, live: int, downloads, newest_version: str | None, tags_json) -> PackageView:
    """The view of a package from its PACKAGE_COLUMNS and its `_package_details`."""
    (id, format, name, created_at, updated_at, deleted_at, repository_id, repository_name, visibility,
     owner_id, owner_login, owner_kind) = columns
    owner = OwnerView(id=owner_id, login=owner_login, kind=owner_kind)
    tags = dict(sorted((tag, version) for tag, version in _decoded_rows(tags_json)))
    return PackageView(
        id=id, owner=owner, format=format, name=name, created_at=created_at, updated_at=updated_at,
        deleted_at=deleted_at,
        repository=RepositoryView(id=repository_id, owner=owner, name=repository_name,
                                  full_name=f"{owner_login}/{repository_name}", visibility=visibility),
        # The version a client gets without asking for one: its `latest` tag where the format has
        # tags, else the version published last.
        latest_version=tags.get("latest") or newest_version, version_count=live, downloads_total=int(downloads or 0),
        tags=tags)


def package_views(rows: Sequence[Package]) -> list[PackageView]:
    """Views of packages selected with their repository and its owner (`_packages_query`): their
    counts, downloads, latest versions and tags in one statement for the whole batch."""
    return _package_views([_package_columns(row) for row in rows])


def _package_views(columns: Sequence[tuple]) -> list[PackageView]:
    """Views of packages by their PACKAGE_COLUMNS, with their details in one statement for the batch."""
    if not columns:
        return []
    details = {package_id: rest for package_id, *rest in PACKAGE_DETAILS.execute([c[0] for c in columns])}
    return [_package_view(c, *details.get(c[0], NO_VERSIONS)) for c in columns]


# A file as `_detailed` carries it along with its version, in FileView's order.
FILE_COLUMNS = (PackageFile.id, PackageFile.name, Blob.size, Blob.sha256, PackageFile.content_type,
                PackageFile.created_at, Blob.sha1, Blob.sha512)


def _moment(value) -> dt.datetime:
    """A timestamp that came as JSON: SQLite's stored text, or PostgreSQL's ISO 8601."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


# What a version's view reads of its own row (not the search_* columns).
VERSION_COLUMNS = (PackageVersion.id, PackageVersion.package, PackageVersion.version, PackageVersion.metadata,
                   PackageVersion.summary, PackageVersion.readme, PackageVersion.license, PackageVersion.published_by,
                   PackageVersion.created_at, PackageVersion.updated_at, PackageVersion.deleted_at,
                   PackageVersion.downloads)


def _detailed(query: Select, *columns) -> Select:
    """`query` (of versions) selecting what their views show (and `columns`), in one statement, as dicts
    (a model instance a row costs as much as its view): the version's own columns, its publisher, and
    its files and tags as JSON (`_version_views` builds the views of its rows)."""
    publisher = Account.alias("publisher")
    files = (PackageFile.select(_json_rows(*FILE_COLUMNS)).join(Blob)
             .where(PackageFile.version == PackageVersion.id))
    tags = PackageTag.select(_json_rows(PackageTag.name)).where(PackageTag.version == PackageVersion.id)
    return (query.select(*VERSION_COLUMNS, *columns, publisher.login.alias("publisher_login"),
                         publisher.kind.alias("publisher_kind"), files.alias("files_json"), tags.alias("tags_json"))
            .switch(PackageVersion).join(publisher, JOIN.LEFT_OUTER, on=(publisher.id == PackageVersion.published_by))
            .dicts())


def version_views(rows: Sequence[dict], package: PackageView) -> list[VersionView]:
    """Views of versions of one package, selected `_detailed`."""
    return _version_views(rows, {package.id: package})


def _version_views(rows: Sequence[dict], packages: dict[int, PackageView]) -> list[VersionView]:
    """Views of versions of any of `packages` (by id), selected `_detailed`: no statement of their own."""
    views = []
    for row in rows:
        package, version = packages[row["package"]], row["version"]
        metadata = json.loads(row["metadata"] or "{}")
        files = sorted((FileView(id=id, name=name, size=size, sha256=sha256, content_type=content_type,
                                 created_at=_moment(created_at), sha1=sha1, sha512=sha512)
                        for id, name, size, sha256, content_type, created_at, sha1, sha512
                        in _decoded_rows(row["files_json"])),
                       key=lambda f: (f.created_at, f.id))
        states = version_states(package.format, version, metadata)
        main = main_file_name(package.format, version, metadata, [f.name for f in files])
        publisher = OwnerView(id=row["published_by"], login=row["publisher_login"], kind=row["publisher_kind"]) \
            if row["published_by"] else None
        views.append(VersionView(
            id=row["id"], package=package, version=version, summary=row["summary"], readme=row["readme"],
            license=row["license"], metadata=metadata, publisher=publisher,
            created_at=row["created_at"], updated_at=row["updated_at"], deleted_at=row["deleted_at"],
            files=files, main_file=next((f for f in files if f.name == main), None),
            tags=sorted(tag for tag, in _decoded_rows(row["tags_json"])), downloads_total=row["downloads"],
            size=sum(f.size for f in files),
            prerelease=states.prerelease, platform=states.platform, deprecated=states.deprecated,
            listed=states.listed))
    return views


def load_package_view(package_id: int) -> PackageView | None:
    """The view of a package by id, for the service itself (events): no permission asked."""
    row = _packages_query().where(Package.id == package_id).first()
    return package_views([row])[0] if row else None


def load_version_view(version_id: int, package: PackageView) -> VersionView | None:
    row = _detailed(PackageVersion.select().where(PackageVersion.id == version_id)).first()
    return version_views([row], package)[0] if row else None


# ---- the queries faces ask --------------------------------------------------------------------------


def list_packages(actor: Actor, *, owner: str | None = None, repository: str | None = None,
                  format: str | None = None, visibility: str | None = None, text: str | None = None,
                  state: str = ACTIVE, order: str = "updated", page: int = 1, per_page: int = 30,
                  count_up_to: int | None = None) -> Page[PackageView]:
    """The packages the actor may see, a page at a time with the total of all pages.

    `owner` (a login) and `repository` (a name of the owner's, or OWNER/NAME) narrow the list and are
    refused as registries refuse a missing one when they do not exist or the actor cannot see them;
    `text` is a part of the name; `state="deleted"` lists deleted packages the actor may restore;
    `order` is "updated" (newest change first) or "name". With `count_up_to`, the total is counted no
    further than that many packages (or the end of this page, if further): past it the Page says
    `total_exact=False` and its total is only a lower bound, which pages show as GitHub does ("1,000+").
    """
    action = _state_action(state)
    page, per_page = _page_bounds(page, per_page)
    repository_id = owner_id = None
    if repository:
        owner_login, _, name = repository.rpartition("/")
        owner_login = owner_login or owner or ""
        found = find_repository(owner_login, name) if owner_login else None
        check_access(actor, found, Action.READ)
        repository_id = found.id
    elif owner:
        account = find_account(owner)
        if account is None:
            raise deny_missing(actor)
        check_listing(actor)
        owner_id = account.id
    else:
        check_listing(actor)
    if order not in ("updated", "name"):
        raise ValueError(f"order is 'updated' or 'name', not {order!r}")
    grant = grant_of(actor, action)
    # What the statements are compiled for; the rest are values of each run.
    variant = (grant.shape, state, order, repository_id is not None, owner_id is not None, bool(format),
               bool(visibility), bool(text))
    values = (*grant.values, repository_id, owner_id, format, visibility,
              f"%{text.lower()}%" if text else None)
    up_to = None if count_up_to is None else max(count_up_to, page * per_page)
    found = LISTING_COUNT.execute(*values, (up_to or 0) + 1, variant=(*variant, up_to is not None)).fetchone()[0]
    total, exact = (found, True) if up_to is None or found <= up_to else (up_to, False)
    rows = LISTING.rows(*values, per_page, (page - 1) * per_page, variant=variant)
    return Page(items=_package_views(rows), total=total, page=page, per_page=per_page, total_exact=exact)


def _listing_conditions(variant, user_id, organizations, repositories, job_repository, repository_id, owner_id,
                        format, visibility, pattern) -> tuple[list, list]:
    """list_packages' conditions on the repository and on the package, apart: the count asks for packages
    in the repositories that pass, which the database answers reading each package once."""
    grant_shape, state, _order, by_repository, by_owner, by_format, by_visibility, by_text = variant[:8]
    on_repository = [grant_condition(grant_shape, user_id, organizations, repositories, job_repository)]
    on_package = [Package.deleted_at.is_null() if state == ACTIVE else Package.deleted_at.is_null(False)]
    if by_repository:
        on_package.append(Package.repository == repository_id)
    if by_owner:
        on_repository.append(Repository.owner == owner_id)
    if by_format:
        on_package.append(Package.format == format)
    if by_visibility:
        on_repository.append(Repository.visibility == visibility)
    if by_text:
        on_package.append(Expression(Package.lower_name, OP.ILIKE, pattern))  # what `.contains` asks
    return on_repository, on_package


def _listing(variant, *values_and_page) -> Select:
    *values, limit, offset = values_and_page
    on_repository, on_package = _listing_conditions(variant, *values)
    query = (Package.select(*PACKAGE_COLUMNS).join(Repository).join(Account, on=(Repository.owner == Account.id))
             .where(*on_repository, *on_package).tuples())
    if variant[2] == "name":
        query = query.order_by(Package.lower_name, Account.lower_login, Package.format, Package.id)
    else:
        query = query.order_by(Package.updated_at.desc(), Package.id.desc())
    return query.limit(limit).offset(offset)


def _listing_count(variant, *values_and_limit) -> Select:
    """How many packages list_packages has; with a limit (the variant's last part), no more than that:
    the database stops after that many rows instead of visiting every one."""
    *values, limit = values_and_limit
    on_repository, on_package = _listing_conditions(variant, *values)
    counted = Package.select(SQL("1")).where(
        Package.repository.in_(Repository.select(Repository.id).where(*on_repository)), *on_package)
    return _count_of(counted.limit(limit) if variant[8] else counted)


def _count_of(query: Select) -> Select:
    """A statement counting the rows of `query` (as peewee's `.count()` asks, but one a Statement keeps)."""
    return Select(from_list=[query.alias("_wrapped")], columns=[fn.COUNT(SQL("1"))])


LISTING = Statement(_listing, variants=True)
LISTING_COUNT = Statement(_listing_count, variants=True)


def _package_named(owner, format, name, *, include_deleted: bool) -> Select:
    query = _packages_query().where((Account.lower_login == owner) & (Package.format == format)
                                    & (Package.lower_name == name))
    return (query if include_deleted else query.where(Package.deleted_at.is_null())).limit(1)


PACKAGE = Statement(lambda owner, format, name: _package_named(owner, format, name, include_deleted=False))
PACKAGE_INCLUDING_DELETED = Statement(
    lambda owner, format, name: _package_named(owner, format, name, include_deleted=True))


def get_package(actor: Actor, owner: str, format: str, name: str, *,
                include_deleted: bool = False) -> PackageView:
    """The package, if the actor may read it (a deleted one only with `include_deleted`, and only to
    those who may restore it); otherwise AccessDenied as the registries answer."""
    row = find_package(owner, format, name, include_deleted=include_deleted)
    check_access(actor, row.repository if row else None, Action.READ)
    if row.deleted_at is not None and not is_allowed(actor, row.repository, Action.DELETE):
        raise AccessDenied(NOT_FOUND)
    return package_views([row])[0]


REPOSITORY_WITH_OWNER = Statement(lambda id: Repository.select(Repository, Account)
                                  .join(Account, on=(Repository.owner == Account.id)).where(Repository.id == id))


def _check_package(actor: Actor, package: PackageView, action: Action) -> None:
    """Ask again for a package view handed back by a face: rights may have changed since it was read."""
    repository = REPOSITORY_WITH_OWNER.first(package.repository.id)
    check_access(actor, repository, Action.READ)
    if package.deleted_at is not None:
        action = Action.DELETE
    if action is not Action.READ and not is_allowed(actor, repository, action):
        raise AccessDenied(NOT_FOUND)


def package_allows(actor: Actor, package: PackageView, action: Action) -> bool:
    """Whether the actor may do `action` with the package (a page asks before offering a form)."""
    try:
        _check_package(actor, package, action)
    except AccessDenied:
        return False
    return True


# The audit log's actions that delete and restore, as `lifecycle` writes them.
DELETION_ACTIONS = {"package.delete": "deleted", "package.restore": "restored",
                    "package_version.delete": "deleted", "package_version.restore": "restored"}


def deletion_history(actor: Actor, package: PackageView, *, limit: int = 100) -> list[DeletionRecord]:
    """Who deleted and restored the package and its versions, and when, newest first: for those who
    may delete and restore it."""
    _check_package(actor, package, Action.DELETE)
    target = f"{package.format}:{package.name}"
    rows = (AuditEvent.select(AuditEvent.action, AuditEvent.target, AuditEvent.actor_login, AuditEvent.created_at)
            .where(AuditEvent.action.in_(list(DELETION_ACTIONS))
                   & ((AuditEvent.target == target) | AuditEvent.target.startswith(f"{target}@")))
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit))
    return [DeletionRecord(action=DELETION_ACTIONS[row.action],
                           version=row.target[len(target) + 1:] if row.action.startswith("package_version.") else None,
                           actor_login=row.actor_login, created_at=row.created_at)
            for row in rows]


def list_versions(actor: Actor, package: PackageView, *, state: str = ACTIVE, page: int = 1,
                  per_page: int = 30) -> Page[VersionView]:
    """The package's versions, newest first, a page at a time; `state="deleted"` lists the deleted
    (yanked, unpublished) ones to those who may restore them."""
    action = _state_action(state)
    _check_package(actor, package, action)
    page, per_page = _page_bounds(page, per_page)
    total = VERSION_COUNT.execute(package.id, variant=state).fetchone()[0]
    rows = VERSION_PAGE.rows(package.id, per_page, (page - 1) * per_page, variant=state)
    return Page(items=version_views(rows, package), total=total, page=page, per_page=per_page)


def _versions_in_state(state: str, package_id) -> Select:
    return PackageVersion.select().where(
        (PackageVersion.package == package_id)
        & (PackageVersion.deleted_at.is_null() if state == ACTIVE else PackageVersion.deleted_at.is_null(False)))


VERSION_COUNT = Statement(lambda state, package_id: _count_of(_versions_in_state(state, package_id)), variants=True)
VERSION_PAGE = Statement(lambda state, package_id, limit, offset: _detailed(
    _versions_in_state(state, package_id).order_by(PackageVersion.created_at.desc(), PackageVersion.id.desc())
    .limit(limit).offset(offset)), variants=True)


def get_version(actor: Actor, package: PackageView, *, version_id: int | None = None,
                version: str | None = None) -> VersionView:
    """One version of the package, by id or by its version string (case-insensitive). A deleted
    version is found only by those who may restore it; VersionNotFound otherwise."""
    _check_package(actor, package, Action.READ)
    if (version_id is None) == (version is None):
        raise ValueError("get_version takes a version_id or a version, one of them")
    query = PackageVersion.package == package.id
    query &= (PackageVersion.id == version_id) if version_id is not None \
        else (PackageVersion.lower_version == version.lower())
    row = _detailed(PackageVersion.select().where(query)).first()
    if row is not None and row["deleted_at"] is not None:
        repository = Repository.get_by_id(package.repository.id)
        if not is_allowed(actor, repository, Action.DELETE):
            row = None
    if row is None:
        raise VersionNotFound(f"{package.name} has no version {version if version is not None else version_id}")
    return version_views([row], package)[0]


# ---- batches: a face that shows many packages at once (GraphQL's connections) asks for all of them -----


def _package_refusals(actor: Actor, packages: Sequence[PackageView]) -> dict[int, AccessDenied | None]:
    """What `_check_package(actor, package, READ)` decides for each package (by id), asking once per
    repository: the refusal to raise, or None."""
    repository_ids = list({p.repository.id for p in packages})
    repositories = {r.id: r for r in (Repository.select(Repository, Account)
                                      .join(Account, on=(Repository.owner == Account.id))
                                      .where(Repository.id.in_(repository_ids)))}
    readable: dict[int, AccessDenied | None] = {}
    may_restore: dict[int, bool] = {}
    for repository_id in repository_ids:
        try:
            check_access(actor, repositories.get(repository_id), Action.READ)
            readable[repository_id] = None
        except AccessDenied as refusal:
            readable[repository_id] = refusal
    refusals: dict[int, AccessDenied | None] = {}
    for package in packages:
        refusal = readable[package.repository.id]
        if refusal is None and package.deleted_at is not None:
            if package.repository.id not in may_restore:
                may_restore[package.repository.id] = is_allowed(
                    actor, repositories[package.repository.id], Action.DELETE)
            if not may_restore[package.repository.id]:
                refusal = AccessDenied(NOT_FOUND)
        refusals[package.id] = refusal
    return refusals


def versions_in_windows(actor: Actor, windows: Sequence[tuple[PackageView, int, int]]
                        ) -> dict[int, list[VersionView] | AccessDenied]:
    """For each (package, start, end): its live versions newest first from offset `start` to `end`
    (excluded), as `list_versions` orders them, or the refusal `list_versions` would raise; keyed by
    package id, in a fixed number of queries however many packages there are."""
    refusals = _package_refusals(actor, [package for package, _, _ in windows])
    result: dict[int, list[VersionView] | AccessDenied] = {
        package.id: refusals[package.id] or [] for package, _, _ in windows}
    wanted = [(package, start, end) for package, start, end in windows
              if refusals[package.id] is None and end > start]
    if not wanted:
        return result
    position = fn.ROW_NUMBER().over(partition_by=[PackageVersion.package],
                                    order_by=[PackageVersion.created_at.desc(), PackageVersion.id.desc()])
    ranked = (PackageVersion.select(PackageVersion.id, PackageVersion.package, position.alias("position"))
              .where(PackageVersion.package.in_([package.id for package, _, _ in wanted])
                     & PackageVersion.deleted_at.is_null()))
    within = reduce(operator.or_, [(ranked.c.package_id == package.id) & (ranked.c.position > start)
                                   & (ranked.c.position <= end) for package, start, end in wanted])
    rows = list(_detailed(PackageVersion.select(PackageVersion).join(ranked, on=(PackageVersion.id == ranked.c.id))
                          .where(within).order_by(ranked.c.package_id, ranked.c.position)))
    for view in _version_views(rows, {package.id: package for package, _, _ in wanted}):
        result[view.package.id].append(view)
    return result


def versions_named(actor: Actor, wanted: Sequence[tuple[PackageView, str]]
                   ) -> dict[int, VersionView | None | AccessDenied]:
    """For each (package, version string): what `get_version(actor, package, version=...)` gives (the
    view, None for VersionNotFound, or the refusal it would raise), keyed by package id, in a fixed
    number of queries however many packages there are."""
    refusals = _package_refusals(actor, [package for package, _ in wanted])
    result: dict[int, VersionView | None | AccessDenied] = {
        package.id: refusals[package.id] for package, _ in wanted}
    asked = [(package, version) for package, version in wanted if refusals[package.id] is None]
    if not asked:
        return result
    rows = list(_detailed(PackageVersion.select().where(reduce(operator.or_, [
        (PackageVersion.package == package.id) & (PackageVersion.lower_version == version.lower())
        for package, version in asked]))))
    packages = {package.id: package for package, _ in asked}
    deleted_repositories = {packages[row["package"]].repository.id for row in rows if row["deleted_at"] is not None}
    may_restore = {repository.id: is_allowed(actor, repository, Action.DELETE)
                   for repository in (Repository.select(Repository, Account)
                                      .join(Account, on=(Repository.owner == Account.id))
                                      .where(Repository.id.in_(list(deleted_repositories))))} \
        if deleted_repositories else {}
    rows = [row for row in rows
            if row["deleted_at"] is None or may_restore.get(packages[row["package"]].repository.id)]
    for view in _version_views(rows, packages):
        result[view.package.id] = view
    return result


def downloads_by_day(actor: Actor, package: PackageView, days: int = 90) -> list[tuple[dt.date, int]]:
    """Downloads of the package's versions per day over the last `days` days (today included), oldest
    first, days without a download as 0."""
    _check_package(actor, package, Action.READ)
    today = utcnow().date()
    first = today - dt.timedelta(days=max(1, days) - 1)
    counts = dict(DownloadCount.select(DownloadCount.day, fn.SUM(DownloadCount.count)).join(PackageVersion)
                  .where((PackageVersion.package == package.id) & (DownloadCount.day >= first))
                  .group_by(DownloadCount.day).tuples())
    by_day = {(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))): int(n or 0)
              for d, n in counts.items()}
    return [(first + dt.timedelta(days=i), by_day.get(first + dt.timedelta(days=i), 0))
            for i in range((today - first).days + 1)]


# ---- what the registries ask -------------------------------------------------------------------


# ---- reading ---------------------------------------------------------------------------------------


def find_package(owner_login: str, fmt: str, name: str, *, include_deleted: bool = False) -> Package | None:
    """The package with its repository and the repository's owner (no permission asked)."""
    return (PACKAGE_INCLUDING_DELETED if include_deleted else PACKAGE).first(owner_login.lower(), fmt, name.lower())


def readable_package(actor: Actor, owner_login: str, fmt: str, name: str,
                     action: Action = Action.READ) -> Package:
    """The package, if the actor may do `action` (read, by default) with it; otherwise AccessDenied
    (401/404 as the rules say; a 403 names what the action itself needs, not just reading)."""
    package = find_package(owner_login, fmt, name)
    check_access(actor, package.repository if package else None, action)
    return package


def readable_packages(actor: Actor, owner_login: str, fmt: str) -> list[Package]:
    """The live packages of `fmt` owned by `owner_login` that the actor may read, oldest first: what an
    index of the owner's packages lists (permission in SQL). AccessDenied when the owner does not exist
    (as `readable_package` answers a missing package) or the actor may read no package at all."""
    owner = find_account(owner_login)
    if owner is None:
        raise deny_missing(actor)
    check_listing(actor)
    # With the repository's owner: the views of their versions are built from these rows.
    return list(_packages_query()
                .where((Package.owner == owner.id) & (Package.format == fmt) & Package.deleted_at.is_null()
                       & repositories_where(actor, Action.READ))
                .order_by(Package.created_at, Package.id))


def package_maintainers(package: Package) -> list[str]:
    """The logins of the people who administer the package's repository (what npm calls its owners)."""
    return [account.login for account in repository_admins(package.repository)]


def live_versions(package: Package) -> list[PackageVersion]:
    return list(PackageVersion.select().where((PackageVersion.package == package.id)
                                              & PackageVersion.deleted_at.is_null())
                .order_by(PackageVersion.created_at, PackageVersion.id))


def find_version(package: Package, version: str, *, include_deleted: bool = False) -> PackageVersion | None:
    query = ((PackageVersion.package == package.id) & (PackageVersion.lower_version == version.lower()))
    if not include_deleted:
        query &= PackageVersion.deleted_at.is_null()
    return PackageVersion.get_or_none(query)


def package_tags(package: Package) -> dict[str, str]:
    rows = (PackageTag.select(PackageTag.name, PackageVersion.version).join(PackageVersion)
            .where((PackageTag.package == package.id) & PackageVersion.deleted_at.is_null()))
    return {row.name: row.version.version for row in rows}


def files_of(versions: Iterable[PackageVersion]) -> dict[int, list[PackageFile]]:
    """Files (with their blobs) of many versions in one query, keyed by version id."""
    ids = [v.id for v in versions]
    result: dict[int, list[PackageFile]] = {i: [] for i in ids}
    if ids:
        for f in PackageFile.select(PackageFile, Blob).join(Blob).where(PackageFile.version.in_(ids)):
            result[f.version_id].append(f)
    return result


def find_file(package: Package, file_name: str) -> PackageFile | None:
    """The file of a live version of the package; its `version` carries only the version's id (a
    download asks this every time: a version's metadata and readme are not read for it)."""
    return (PackageFile.select(PackageFile, Blob, PackageVersion.id).join(Blob)
            .switch(PackageFile).join(PackageVersion)
            .where((PackageVersion.package == package.id) & PackageVersion.deleted_at.is_null()
                   & (PackageFile.lower_name == file_name.lower()))
            .first())


@dataclass(frozen=True)
class SearchHits:
    """A page of a search: the packages (each with its newest live version as `.latest`), best first,
    and how many matched in all."""

    packages: list[Package]
    total: int


# How much a term found in each place counts; the package's own name first, as registries rank it.
SEARCH_WEIGHTS = {"exact name": 1000, "name prefix": 300, "name": 100, "title": 40, "keyword": 30,
                  "description": 10, "author": 5}
MAX_SEARCH_TERMS = 8


def _term_places(term: str, latest) -> dict[str, Expression]:
    """Where `term` (lowercase) may stand, as conditions on Package and its latest version."""
    # npm's scoped names: '@scope/name' is found exactly by 'name' too.
    return {"exact name": (Package.lower_name == term) | Package.lower_name.endswith(f"/{term}"),
            "name prefix": Package.lower_name.startswith(term) | Package.lower_name.contains(f"/{term}"),
            "name": Package.lower_name.contains(term),
            "title": latest.search_title.contains(term),
            "keyword": latest.search_keywords.contains(f" {term} "),
            "description": latest.search_description.contains(term),
            "author": latest.search_authors.contains(term)}


@dataclass(frozen=True)
class ShownVersions:
    """Which live versions a listing shows, by JSON booleans in their metadata: a version whose metadata
    holds a key of `hidden_if_true` as true, or a key of `hidden_if_false` as false, is left out (NuGet's
    search leaves out unlisted versions, and prereleases unless asked for them)."""

    hidden_if_true: tuple[str, ...] = ()
    hidden_if_false: tuple[str, ...] = ()


def _metadata_flag(metadata, key: str, value: bool) -> Expression:
    """Whether the JSON text `metadata` holds `key` as the JSON boolean `value`, in SQL."""
    if is_sqlite():
        return fn.json_extract(metadata, f"$.{key}") == int(value)
    return NodeList((SQL("("), metadata, SQL("::jsonb ->> %s)", [key])), glue="") == ("true" if value else "false")


def _shown_where(version, shown: ShownVersions) -> Expression:
    condition = version.deleted_at.is_null()
    for key in shown.hidden_if_true:
        condition &= ~fn.COALESCE(_metadata_flag(version.metadata, key, True), False)
    for key in shown.hidden_if_false:
        condition &= ~fn.COALESCE(_metadata_flag(version.metadata, key, False), False)
    return condition


def _matching(actor: Actor, fmt: str, text: str, *, owner: str | None, name: str | None,
              shown: ShownVersions | None) -> tuple[Select, list[Expression]]:
    """The packages `search_packages` finds (not yet ordered), with the score of each place a word
    stands in."""
    latest = PackageVersion.alias("latest")
    newest_live = (PackageVersion.select(fn.MAX(PackageVersion.id))
                   .where((PackageVersion.package == Package.id) & PackageVersion.deleted_at.is_null()))
    query = (Package.select(Package, Repository, Account, latest)
             .join(Repository).join(Account, on=(Repository.owner == Account.id))
             .switch(Package).join(latest, on=(latest.id == newest_live), attr="latest")
             .where((Package.format == fmt) & Package.deleted_at.is_null()
                    & repositories_where(actor, Action.READ)))
    if owner is not None:
        account = find_account(owner)
        if account is None:
            raise deny_missing(actor)
        check_listing(actor)
        query = query.where(Repository.owner == account.id)
    if name is not None:
        query = query.where(Package.lower_name == name.lower())
    if shown is not None:
        version = PackageVersion.alias("shown")
        query = query.where(fn.EXISTS(version.select(version.id).where(
            (version.package == Package.id) & _shown_where(version, shown))))
    terms = list(dict.fromkeys(text.lower().split()))[:MAX_SEARCH_TERMS]
    scores = []
    for term in terms:
        places = _term_places(term[:255], latest)
        query = query.where(reduce(operator.or_, places.values()))
        scores += [Case(None, [(condition, SEARCH_WEIGHTS[place])], 0) for place, condition in places.items()]
    return query, scores


def search_packages(actor: Actor, fmt: str, text: str, *, owner: str | None = None, name: str | None = None,
                    shown: ShownVersions | None = None, order: str = "rank", limit: int = 20,
                    offset: int = 0) -> SearchHits:
    """Live packages of `fmt` (of `owner`, when given) the actor may read whose name, title, keywords,
    description or authors hold every word of `text`, ranked by where the words stand (an exact name
    first, then a name that starts or holds them, title, keyword, description, authors), then the most
    recently changed (`order="name"`: by name instead); an empty `text` matches every package. `name`
    keeps only the package of that name; `shown` only packages with a version it shows. Ranked, filtered
    by permission and paged in SQL. An unknown `owner` is refused as a missing package is."""
    query, scores = _matching(actor, fmt, text, owner=owner, name=name, shown=shown)
    total = query.count()
    if order == "name":
        ordering = [Package.lower_name, Package.id]
    elif order == "rank":
        ordering = [*([reduce(operator.add, scores).desc()] if scores else []), Package.updated_at.desc(),
                    Package.id.desc()]
    else:
        raise ValueError(f"order is 'rank' or 'name', not {order!r}")
    rows = list(query.order_by(*ordering).offset(max(0, offset)).limit(max(0, limit)))
    return SearchHits(packages=rows, total=total)


def search_versions(actor: Actor, fmt: str, text: str, *, shown: ShownVersions, version_order: Callable[[str], Any],
                    owner: str | None = None, name: str | None = None, offset: int = 0,
                    limit: int = 20) -> list[VersionView]:
    """The versions `shown` shows of the packages `search_packages` finds (with `order="name"`), one list:
    the packages by name, each one's versions in `version_order` (a sort key of the version string, the
    format's order, which SQL does not know), from `offset`, at most `limit` of them. Paged in SQL by each
    package's count of shown versions: only the versions of the packages the page reaches are read."""
    # Packages without a version to show have no count: the join leaves them out, as `shown` would.
    query, _ = _matching(actor, fmt, text, owner=owner, name=name, shown=None)
    offset, limit = max(0, offset), max(0, limit)
    if not limit:
        return []
    version = PackageVersion.alias("shown")
    by_name = [Package.lower_name, Package.id]
    counted = (query.switch(Package).join(version, on=((version.package == Package.id) & _shown_where(version, shown)))
               .group_by(Package.id)
               .select(Package.id.alias("package_id"), fn.COUNT(version.id).alias("shown"),
                       # How many versions this package's and the ones before it show.
                       fn.SUM(fn.COUNT(version.id)).over(order_by=by_name).alias("reach"))
               .alias("counted"))
    packages = list(_packages_query().switch(Package).join(counted, on=(counted.c.package_id == Package.id))
                    .select_extend((counted.c.reach - counted.c.shown).alias("before"))
                    .where((counted.c.reach > offset) & (counted.c.reach - counted.c.shown < offset + limit))
                    .order_by(*by_name))
    if not packages:
        return []
    found = live_version_views(packages, shown=shown)
    versions = [v for package in packages
                for v in sorted(found[package.id], key=lambda view: version_order(view.version))]
    start = offset - int(packages[0].before)  # PostgreSQL sums to a Decimal
    return versions[start:start + limit]


def version_strings(package: Package, *, shown: ShownVersions | None = None) -> list[str]:
    """The version strings of the package's live versions (only those `shown` shows, when given), oldest first:
    what an index of versions alone lists, without their views."""
    condition = _shown_where(PackageVersion, shown) if shown is not None else PackageVersion.deleted_at.is_null()
    return [version for version, in PackageVersion.select(PackageVersion.version)
            .where((PackageVersion.package == package.id) & condition)
            .order_by(PackageVersion.created_at, PackageVersion.id).tuples()]


def _views_where(packages: Sequence[Package], condition: Expression | None = None) -> dict[int, list[VersionView]]:
    """The versions of each package (rows with their repository and its owner, as `find_package`,
    `readable_packages` and `search_packages` give them) that `condition` keeps (all without one) as
    views, oldest first, by package id (a package with none maps to []). One statement: the versions
    with their details and their packages' details."""
    rows = {package.id: package for package in packages}
    found: dict[int, list[VersionView]] = {package_id: [] for package_id in rows}
    if not rows:
        return found
    details = _package_details(list(rows)).alias("package_details")
    query = (PackageVersion.select().join(details, on=(details.c.package_id == PackageVersion.package))
             .where(PackageVersion.package.in_(list(rows))).order_by(PackageVersion.created_at, PackageVersion.id))
    if condition is not None:
        query = query.where(condition)
    versions = list(_detailed(query, details.c.package_live, details.c.package_downloads, details.c.package_newest,
                              details.c.package_tags))
    views: dict[int, PackageView] = {}
    for row in versions:
        if row["package"] not in views:
            views[row["package"]] = _package_view(_package_columns(rows[row["package"]]), row["package_live"],
                                                  row["package_downloads"], row["package_newest"], row["package_tags"])
    for view in _version_views(versions, views):
        found[view.package.id].append(view)
    return found


def live_version_views(packages: Sequence[Package], *, shown: ShownVersions | None = None,
                       version: str | None = None) -> dict[int, list[VersionView]]:
    """The live versions of each package (rows with their repository and its owner, as `find_package`
    and `search_packages` give them) as views, oldest first, by package id (a package with none maps to
    []): only those `shown` shows, or only the one named `version` (case-insensitive), when given. One
    statement: the versions with their details and their packages' details."""
    condition = _shown_where(PackageVersion, shown) if shown is not None else PackageVersion.deleted_at.is_null()
    if version is not None:
        condition &= PackageVersion.lower_version == version.lower()
    return _views_where(packages, condition)


def all_version_views(package: Package) -> list[VersionView]:
    """Every version the package has, deleted (and still restorable) ones too, as views, oldest first:
    for indexes that record deletions (RubyGems' /versions lists yanks). One statement."""
    return _views_where([package])[package.id]


def newest_version_views(hits: SearchHits) -> list[VersionView]:
    """The view of each hit's newest live version (its `.latest`), in the hits' order: what a registry's
    search shows of it. One statement however many hits there are."""
    found = _views_where(hits.packages, PackageVersion.id.in_([package.latest.id for package in hits.packages]))
    return [found[package.id][0] for package in hits.packages]


@dataclass(frozen=True)
class NamePage:
    """A page of names in byte order, after a name (keyset paging, so a page costs the same wherever it
    is), whether more follow and, where the list is counted, how many there are in all."""

    names: list[str]
    more: bool
    total: int | None = None


def _byte_order(expression):
    """`expression` compared and sorted byte by byte, as Python sorts str: PostgreSQL's locale collation
    would sort "a-b" and "a/b" the other way round and pages would skip or repeat names."""
    return expression.collate("BINARY" if is_sqlite() else '"C"')


def package_path_page(actor: Actor, fmt: str, *, after: str | None = None, limit: int = 100) -> NamePage:
    """OWNER/REPOSITORY/PACKAGE (lowercase) of every live package of `fmt` with a live version that the
    actor may read, in byte order after `after`, at most `limit` of them, with the total: an index of names
    only (Docker's catalog), paged, counted and filtered by permission in SQL."""
    live_version = PackageVersion.select(PackageVersion.package).where(PackageVersion.deleted_at.is_null())
    path = _byte_order(Account.lower_login.concat("/").concat(Repository.lower_name).concat("/")
                       .concat(Package.lower_name))
    query = (Package.select(path.alias("path"))
             .join(Repository).join(Account, on=(Repository.owner == Account.id))
             .where((Package.format == fmt) & Package.deleted_at.is_null() & Package.id.in_(live_version)
                    & repositories_where(actor, Action.READ)))
    total = query.count()
    if after:
        query = query.where(path > after)
    names = [row[0] for row in query.order_by(path).limit(max(0, limit) + 1).tuples()]
    return NamePage(names=names[:limit], total=total, more=len(names) > limit)


# ---- publishing file by file (clients that upload a version one file per request: Maven, Gradle) ----


def accessible_repository(actor: Actor, owner_login: str, repository_name: str, action: Action) -> Repository:
    """The repository OWNER/NAME if the actor may do `action` with its packages; otherwise AccessDenied
    (401 for anonymous, 404 when it does not exist or the actor cannot see it, 403 short of rights)."""
    repository = find_repository(owner_login, repository_name)
    check_access(actor, repository, action)
    return repository


def repository_package(repository: Repository, fmt: str, name: str) -> Package | None:
    """The live package `name` of the repository's owner, only when it is linked to this repository."""
    package = find_package(repository.owner.login, fmt, name)
    if package is None or package.repository_id != repository.id:
        return None
    return package


def find_version_file(version: PackageVersion, file_name: str) -> PackageFile | None:
    return (PackageFile.select(PackageFile, Blob).join(Blob)
            .where((PackageFile.version == version.id) & (PackageFile.lower_name == file_name.lower()))
            .first())


def find_package_file(repository: Repository, fmt: str, name: str, version: str, file_name: str) -> PackageFile | None:
    """The file of a live version of the live package `name` linked to `repository`, in one query
    (downloads ask this for every request). Its `version` carries only the version's id."""
    return (PackageFile.select(PackageFile, Blob, PackageVersion.id).join(Blob)
            .switch(PackageFile).join(PackageVersion).join(Package)
            .where((Package.repository == repository.id) & (Package.format == fmt)
                   & (Package.lower_name == name.lower()) & Package.deleted_at.is_null()
                   & (PackageVersion.lower_version == version.lower()) & PackageVersion.deleted_at.is_null()
                   & (PackageFile.lower_name == file_name.lower()))
            .first())


def all_packages(owner_login: str | None = None, fmt: str | None = None) -> list[Package]:
    query = (Package.select(Package, Repository, Account)
             .join(Repository).join(Account, JOIN.INNER, on=(Repository.owner == Account.id))
             .where(Package.deleted_at.is_null()).order_by(Account.lower_login, Package.format, Package.lower_name))
    if owner_login:
        query = query.where(Account.lower_login == owner_login.lower())
    if fmt:
        query = query.where(Package.format == fmt)
    return list(query)


# ---- versions of content-addressed packages (OCI images) --------------------------------------------


def find_tagged_version(package: Package, tag: str) -> PackageVersion | None:
    return (PackageVersion.select().join(PackageTag, on=(PackageTag.version == PackageVersion.id))
            .where((PackageTag.package == package.id) & (PackageTag.name == tag)
                   & PackageVersion.deleted_at.is_null())
            .first())


def referring_versions(package: Package, subject: str, *, prefix: bool = False) -> list[VersionView]:
    """The live versions of the package (a row with its repository and its owner) that say they are about
    `subject` (OCI referrers) as views, oldest first; with `prefix`, about any subject that starts with it
    (the OCI referrers tag schema shortens digests). One statement."""
    about = VersionSubject.subject.startswith(subject) if prefix else VersionSubject.subject == subject
    return _views_where([package], PackageVersion.deleted_at.is_null() & PackageVersion.id.in_(
        VersionSubject.select(VersionSubject.version).where(about)))[package.id]


def _referrers_tag(subject):
    """The OCI referrers tag schema's tag of a subject digest, in SQL: ALGORITHM-HEX, the algorithm cut to
    32 characters and the hex digits to 64 (the tag a client that falls back to the schema reads the
    referrers of the digest at; `formats.docker.metadata.referrers_tag_prefix` reads it back)."""
    colon = fn.INSTR(subject, ":") if is_sqlite() else fn.STRPOS(subject, ":")
    return (fn.SUBSTR(fn.SUBSTR(subject, 1, colon - 1), 1, 32).concat("-")
            .concat(fn.SUBSTR(subject, colon + 1, 64)))


def tag_page(package: Package, *, after: str | None = None, limit: int | None = None,
             referrers_tags: bool = False) -> NamePage:
    """The package's tags (of live versions) in byte order after `after`, at most `limit` of them (all
    without one), and whether more follow; with `referrers_tags`, the OCI referrers tag schema's tags of
    the digests live versions refer to are among them (there while something refers to the digest).
    Paged in SQL: a page reads at most `limit` + 1 names, wherever it is."""
    live = (PackageVersion.package == package.id) & PackageVersion.deleted_at.is_null()
    names = PackageTag.select(PackageTag.name.alias("name")).join(PackageVersion).where(live)
    if referrers_tags:
        names = names | (VersionSubject.select(_referrers_tag(VersionSubject.subject).alias("name"))
                         .join(PackageVersion, on=(VersionSubject.version == PackageVersion.id)).where(live))
    listed = names.alias("listed")
    name = _byte_order(listed.c.name)
    query = Select(from_list=[listed], columns=[listed.c.name]).order_by(name)
    if after:
        query = query.where(name > after)
    if limit is not None:
        query = query.limit(max(0, limit) + 1)
    found = [row[0] for row in query.bind(database).tuples()]
    return NamePage(names=found if limit is None else found[:limit], more=limit is not None and len(found) > limit)

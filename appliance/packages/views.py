"""The read model: what every face (registries, pages, console, REST, GraphQL, webhooks) renders
packages from.

Frozen, decoded, loaded in batches by `queries`; no face decodes a column or follows a foreign key.
What only pages show of a version (its long text, links, dependencies) is read from its decoded
metadata when asked for, never from the database.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from appliance.packages.descriptors import Dependency, dependencies, readme_text, source_url

T = TypeVar("T")


@dataclass(frozen=True)
class OwnerView:
    id: int
    login: str
    kind: str  # "user" | "organization"


@dataclass(frozen=True)
class RepositoryView:
    id: int
    owner: OwnerView
    name: str
    full_name: str
    visibility: str


@dataclass(frozen=True)
class FileView:
    id: int
    name: str
    size: int
    sha256: str
    content_type: str
    created_at: dt.datetime
    # What else the blob store knows of the bytes: kept when a format asked for them (npm's publish keeps
    # sha1 and sha512, OCI blobs may be known by sha512), else None.
    sha1: str | None
    sha512: str | None


@dataclass(frozen=True)
class PackageView:
    id: int
    owner: OwnerView
    repository: RepositoryView
    format: str
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    latest_version: str | None
    version_count: int
    downloads_total: int
    tags: dict[str, str] = field(default_factory=dict)  # tag -> version


@dataclass(frozen=True, slots=True)  # slots: a registry's document builds one per version
class VersionView:
    id: int
    package: PackageView
    version: str
    summary: str
    readme: str | None
    license: str | None
    metadata: dict
    publisher: OwnerView | None
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None  # a yanked RubyGems version, an unpublished npm one, ...
    files: list[FileView]
    main_file: FileView | None
    tags: list[str]
    downloads_total: int
    size: int  # of all its files
    prerelease: bool
    platform: str | None
    deprecated: str | None  # the deprecation message, when deprecated
    listed: bool  # False for an unlisted NuGet version: installable by exact version, in no search

    # What pages show of it (descriptors decides per format), read from its metadata when asked for:
    # registries render hundreds of versions at a time and never ask.

    @property
    def description(self) -> str:
        """The long text to render as Markdown."""
        return readme_text(self.package.format, self.readme, self.summary, self.metadata)

    @property
    def source_url(self) -> str | None:
        """The http(s) URL of its source or home page."""
        return source_url(self.package.format, self.metadata)

    @property
    def dependencies(self) -> list[Dependency]:
        """Its declared dependencies, in the format's order."""
        return dependencies(self.package.format, self.metadata)


@dataclass(frozen=True)
class DeletionRecord:
    """One delete or restore of a package or of one of its versions, from the audit log."""
    action: str  # "deleted" | "restored"
    version: str | None  # None when the whole package was deleted or restored
    actor_login: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
    # False when `total` is a lower bound: the list was counted only so far (`list_packages(count_up_to=)`).
    total_exact: bool = True

    @property
    def pages(self) -> int:
        """Pages of `total` (at least that many when the total is not exact)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        # A total counted only so far reaches at least one item past this page.
        return self.page < self.pages or not self.total_exact

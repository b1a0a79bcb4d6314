"""Named domain errors of the packages service, each with the HTTP status it is answered with by
default. A face answers `status_for(error)`, naming in `overrides` only the classes its protocol answers
differently; the lookup walks the class hierarchy, so a new subclass is answered like its parent."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from appliance.auth.permissions import Decision

T = TypeVar("T")


class PackageError(Exception):
    """Base class; str(error) is a message for the person at the client. What to do about it with their
    client is the face's to say (`explain`): the service knows no client."""

    status = 400

    def explained(self, hint: str | None = None) -> str:
        """The message with a face's `hint` (how the person does something about it with their client)."""
        return f"{self}: {hint}" if hint else str(self)


class AccessDenied(PackageError):
    """The actor may not do this: 401 (anonymous), 403 (short of a scope or role) or 404 (as if the
    package did not exist), as the Decision says."""

    def __init__(self, decision: Decision):
        super().__init__(decision.message)
        self.decision = decision


class PackageNotFound(PackageError):
    status = 404


class VersionNotFound(PackageError):
    status = 404


class TagNotFound(PackageError):
    """The package has no tag of that name."""

    status = 404


class RestoreExpired(PackageError):
    """A package or version deleted longer ago than `retention.deleted_days`: it cannot come back."""

    status = 404


class VersionExists(PackageError):
    """A version (or package) of that name is published: versions cannot be replaced."""

    status = 409


class StillRestorable(PackageError):
    """A publish to a package or version that is deleted and still restorable: restoring it is how it
    comes back, so that a deletion can be undone with what it deleted."""

    status = 409


class FileExists(PackageError):
    """A file name the version already has, in a version whose files cannot be replaced."""

    status = 409


class LinkRefused(PackageError):
    """The package cannot be linked to the repository the publish asks for."""


class RepositoryNotLinked(LinkRefused):
    """A publish that names no repository of `owner` the package could belong to: the one it names
    (`named`) does not exist or cannot be seen, or it names none and the owner has no `default`."""

    def __init__(self, owner: str, named: str | None, default: str | None = None):
        self.owner, self.named, self.default = owner, named, default
        super().__init__(self.explained())

    def explained(self, hint: str | None = None) -> str:
        """`hint` says how the client names a repository."""
        how = f" ({hint})" if hint else ""
        if self.named:
            return (f"the package names the repository {self.owner}/{self.named}, which does not exist: create it "
                    f"or name an existing repository of {self.owner}{how}")
        return (f"no repository to link this package to: name a repository of {self.owner}{how} or create the "
                f"repository {self.owner}/{self.default}")


class ForeignRepository(LinkRefused):
    """The package's metadata (`named_by` says where) names a repository of another owner than the one it
    is published under (`owner`): a package belongs to a repository of its own owner."""

    def __init__(self, owner: str, named_by: str, named_owner: str, named: str):
        self.owner, self.named_by, self.named_owner, self.named = owner, named_by, named_owner, named
        super().__init__(f"{named_by} names the repository {named_owner}/{named}, but a package of {owner} "
                         f"belongs to a repository of {owner}")


class NameTaken(LinkRefused):
    """The owner's package of that name belongs to another of their repositories (names are unique per
    owner)."""


class InvalidUpload(PackageError):
    """The bytes are not what the client said they are (digest, size)."""


class UploadTooLarge(PackageError):
    status = 413


class FormatDisabled(PackageError):
    status = 404


class SpendingLimitReached(PackageError):
    """A publish past what the owner's included storage and transfer and spending limit allow (cloud billing)."""


class VisibilityNotOffered(PackageError):
    """A write to a repository whose visibility the edition in force does not offer (kept from another
    edition: switching deletes nothing, but nothing new goes in until an admin changes it)."""

    status = 403


class InvalidSpendingLimit(PackageError):
    """A spending limit that is not an amount of dollars, or set where the edition has no billing."""


class BlobCollected(PackageError):
    """Content an upload matched was removed by blob collection at the same moment; sending it again works."""


class BlobNotFound(PackageError):
    """A blob the package does not have (not pushed to it, or unlinked)."""

    status = 404


class UploadNotFound(PackageError):
    """No such resumable upload (never started, finished, cancelled or expired)."""

    status = 404


class UploadOutOfOrder(PackageError):
    """A chunk that does not start where the upload stands."""

    status = 416


class TokenInUpload(PackageError):
    """A published file holds a token of this appliance: published, anyone who installs it could use it.
    `token_id` is the token's, None when another appliance (or a deleted token) made it."""

    def __init__(self, path: str, token_id: int | None):
        super().__init__(f"refused: {path} holds a token of this appliance (apt_...): anyone who installs the "
                         f"package could use it, so nothing was published")
        self.path = path
        self.token_id = token_id


def along_hierarchy(error: BaseException, table: Mapping[type, T]) -> T | None:
    """The entry of `table` for the error's class, or its nearest ancestor's; None when none has one."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return None


def explain(error: PackageError, hints: Mapping[type, Callable[..., str]]) -> str:
    """The error's message with the face's hint for its class (or its nearest ancestor's), if it has one."""
    hint = along_hierarchy(error, hints)
    return error.explained(hint(error) if hint else None)


def status_for(error: PackageError, overrides: Mapping[type, int] | None = None) -> int:
    """The HTTP status of `error`: up its class hierarchy, at each class a face's override first, then
    that class's own default. AccessDenied answers its Decision's outcome."""
    if isinstance(error, AccessDenied):
        return error.decision.outcome.value
    overrides = overrides or {}
    for cls in type(error).__mro__:
        if cls in overrides:
            return overrides[cls]
        if "status" in vars(cls):
            return vars(cls)["status"]
    return PackageError.status

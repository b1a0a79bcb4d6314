"""Named domain errors of the packages service; each protocol maps them to its own answers."""
from __future__ import annotations

from appliance.auth.permissions import Decision


class PackageError(Exception):
    """Base class; str(error) is a message for the person at the client."""


class AccessDenied(PackageError):
    def __init__(self, decision: Decision):
        super().__init__(decision.message)
        self.decision = decision


class PackageNotFound(PackageError):
    pass


class VersionNotFound(PackageError):
    pass


class VersionExists(PackageError):
    pass


class FileExists(PackageError):
    """A file name the version already has, in a version whose files cannot be replaced."""


class RepositoryNotLinked(PackageError):
    """A publish that names no repository the package could belong to."""


class InvalidUpload(PackageError):
    """The bytes are not what the client said they are (digest, size)."""


class UploadTooLarge(PackageError):
    pass


class FormatDisabled(PackageError):
    pass


class SpendingLimitReached(PackageError):
    """A publish past what the owner's included storage and spending limit allow (cloud billing)."""


class BlobCollected(PackageError):
    """Content an upload matched was removed by blob collection at the same moment; sending it again works."""


class BlobNotFound(PackageError):
    """A blob the package does not have (not pushed to it, or unlinked)."""


class UploadNotFound(PackageError):
    """No such resumable upload (never started, finished, cancelled or expired)."""


class UploadOutOfOrder(PackageError):
    """A chunk that does not start where the upload stands."""


class TokenInUpload(PackageError):
    """A published file holds a token of this appliance: published, anyone who installs it could use it."""

    def __init__(self, path: str, token_id: int | None):
        revoke = (f"revoke it (`appliance tokens revoke {token_id}`, or /settings/tokens)" if token_id is not None
                  else "revoke it where it was made")
        super().__init__(f"refused: {path} holds a token of this appliance (apt_...): anyone who installs the "
                         f"package could use it. Leave the file out of the package (keep NuGet.Config and "
                         f".npmrc away from what is packed) and {revoke}; nothing was published")
        self.path = path
        self.token_id = token_id

"""The packages service: the one import surface for every face (registries, pages, console, REST,
GraphQL, webhooks). Reading is `queries` (the read model of `views`); every change is an operation
of the service that decides its own permission and runs in one transaction (`events.operation`)."""
from appliance.packages.errors import AccessDenied, PackageError, PackageNotFound, VersionNotFound
from appliance.packages.events import PackageEvent, subscribe
from appliance.packages.queries import (
    downloads_by_day,
    get_package,
    get_version,
    list_packages,
    list_versions,
)
from appliance.packages.views import FileView, OwnerView, PackageView, Page, RepositoryView, VersionView

__all__ = [
    "AccessDenied",
    "FileView",
    "OwnerView",
    "PackageError",
    "PackageEvent",
    "PackageNotFound",
    "PackageView",
    "Page",
    "RepositoryView",
    "VersionNotFound",
    "VersionView",
    "downloads_by_day",
    "get_package",
    "get_version",
    "list_packages",
    "list_versions",
    "subscribe",
]

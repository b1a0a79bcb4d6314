"""GitHub's packages endpoints under /orgs/ORG, /users/USER and /user: list, get, delete and restore
packages and their versions, and the Docker migration conflicts lists. A thin face over the read
model and the operations of `appliance.packages`, which decide every permission."""
from __future__ import annotations

from flask import Response, jsonify, request

from appliance import packages
from appliance import packages as service
from appliance.accounts.service import find_account
from appliance.api.blueprint import accepted_scopes, blueprint, current_actor, signed_in_user
from appliance.api.errors import (
    PACKAGES_DOCUMENTATION_URL,
    REQUIRES_AUTHENTICATION,
    ApiError,
    from_decision,
    not_found,
)
from appliance.api.pagination import page_arg, page_links, per_page_arg
from appliance.auth.permissions import Action, authorize, authorize_listing
from appliance.github.shapes import FORMAT_OF_TYPE, package_shape, version_shape
from appliance.models.packages import Package, PackageVersion
from appliance.models.repositories import VISIBILITIES
from appliance.settings import current_settings

STATES = ("active", "deleted")


def _refuse_missing():
    decision = authorize(current_actor(), None, Action.READ, anonymous_read=current_settings()["anonymous_read"])
    return from_decision(decision, PACKAGES_DOCUMENTATION_URL)


READ_SCOPES = ("read:packages",)
DELETE_SCOPES = ("delete:packages", "read:packages", "repo")


def _owner(kind: str, login: str | None, scopes: tuple[str, ...] = READ_SCOPES) -> str:
    """The owner's login for /orgs/ORG (an organization), /users/USER (a user) or /user (the caller);
    one that does not exist, or is not of the kind, is what a missing package would be."""
    accepted_scopes(*scopes)
    if kind == "user":
        return signed_in_user().login
    account = find_account(login)
    if account is None or account.is_organization != (kind == "orgs"):
        raise _refuse_missing()
    return account.login


def _format(package_type: str) -> str:
    fmt = FORMAT_OF_TYPE.get(package_type)
    if fmt is None:
        raise ApiError(400, f"package_type must be one of {', '.join(sorted(FORMAT_OF_TYPE))}",
                       documentation_url=PACKAGES_DOCUMENTATION_URL)
    return fmt


def _choice(name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = request.args.get(name, default)
    if value is not None and value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}",
                       documentation_url=PACKAGES_DOCUMENTATION_URL)
    return value


def _paged(page: packages.Page, shape) -> Response:
    response = jsonify([shape(item) for item in page.items])
    links = page_links(page.page, page.per_page, page.total)
    if links:
        response.headers["Link"] = links
    return response


def _package(owner: str, package_type: str, name: str, *, include_deleted: bool = False) -> packages.PackageView:
    try:
        return packages.get_package(current_actor(), owner, _format(package_type), name,
                                    include_deleted=include_deleted)
    except packages.PackageNotFound:
        raise not_found(PACKAGES_DOCUMENTATION_URL) from None


def _version(package: packages.PackageView, package_version_id: int) -> packages.VersionView:
    try:
        return packages.get_version(current_actor(), package, version_id=package_version_id)
    except packages.VersionNotFound:
        raise not_found(PACKAGES_DOCUMENTATION_URL) from None


def _signed_in_to_change() -> None:
    """Nobody deletes or restores anonymously: the 401 that makes a client send its credentials, before
    anything is looked up (a deleted package is hidden from whoever may not restore it)."""
    accepted_scopes(*DELETE_SCOPES)
    if current_actor().is_anonymous:
        raise ApiError(401, REQUIRES_AUTHENTICATION, documentation_url=PACKAGES_DOCUMENTATION_URL)


def _row(model, ident: int):
    """The row the service's delete and restore operations take, for a view the read model gave."""
    return model.get_by_id(ident)


# ---- the endpoints, once for each of /orgs/ORG, /users/USER and /user ----------------------------------


def list_owner_packages(kind: str, org: str | None = None, username: str | None = None):
    owner = _owner(kind, org or username)
    package_type = request.args.get("package_type")
    page = packages.list_packages(
        current_actor(), owner=owner, format=_format(package_type) if package_type else None,
        visibility=_choice("visibility", VISIBILITIES, None), state=_choice("state", STATES, "active"),
        order="name", page=page_arg(), per_page=per_page_arg())
    return _paged(page, package_shape)


def get_owner_package(kind: str, package_type: str, package_name: str, org: str | None = None,
                      username: str | None = None):
    return jsonify(package_shape(_package(_owner(kind, org or username), package_type, package_name)))


def delete_owner_package(kind: str, package_type: str, package_name: str, org: str | None = None,
                         username: str | None = None):
    _signed_in_to_change()
    package = _package(_owner(kind, org or username, DELETE_SCOPES), package_type, package_name)
    service.delete_package(current_actor(), _row(Package, package.id))
    return Response(status=204)


def restore_owner_package(kind: str, package_type: str, package_name: str, org: str | None = None,
                          username: str | None = None):
    _signed_in_to_change()
    owner = _owner(kind, org or username, DELETE_SCOPES)
    package = _package(owner, package_type, package_name, include_deleted=True)
    service.restore_package(current_actor(), _row(Package, package.id))
    return Response(status=204)


def list_package_versions(kind: str, package_type: str, package_name: str, org: str | None = None,
                          username: str | None = None):
    package = _package(_owner(kind, org or username), package_type, package_name)
    page = packages.list_versions(current_actor(), package, state=_choice("state", STATES, "active"),
                                  page=page_arg(), per_page=per_page_arg())
    return _paged(page, version_shape)


def get_package_version(kind: str, package_type: str, package_name: str, package_version_id: int,
                        org: str | None = None, username: str | None = None):
    package = _package(_owner(kind, org or username), package_type, package_name)
    return jsonify(version_shape(_version(package, package_version_id)))


def delete_package_version(kind: str, package_type: str, package_name: str, package_version_id: int,
                           org: str | None = None, username: str | None = None):
    _signed_in_to_change()
    package = _package(_owner(kind, org or username, DELETE_SCOPES), package_type, package_name)
    version = _version(package, package_version_id)
    service.delete_version(current_actor(), _row(PackageVersion, version.id))
    return Response(status=204)


def restore_package_version(kind: str, package_type: str, package_name: str, package_version_id: int,
                            org: str | None = None, username: str | None = None):
    _signed_in_to_change()
    package = _package(_owner(kind, org or username, DELETE_SCOPES), package_type, package_name)
    version = _version(package, package_version_id)
    service.restore_version(current_actor(), _row(PackageVersion, version.id))
    return Response(status=204)


def docker_conflicts(kind: str, org: str | None = None, username: str | None = None):
    """Packages that conflicted when GitHub moved docker.pkg.github.com images to its container
    registry. The appliance never had that migration, so there are none; the caller must still be
    able to list the owner's packages."""
    _owner(kind, org or username)
    decision = authorize_listing(current_actor(), anonymous_read=current_settings()["anonymous_read"])
    if not decision.allowed:
        raise from_decision(decision, PACKAGES_DOCUMENTATION_URL)
    return jsonify([])


PACKAGE = "/packages/<package_type>/<path:package_name>"
ROUTES = [
    ("/packages", ["GET"], list_owner_packages),
    (PACKAGE, ["GET"], get_owner_package),
    (PACKAGE, ["DELETE"], delete_owner_package),
    (f"{PACKAGE}/restore", ["POST"], restore_owner_package),
    (f"{PACKAGE}/versions", ["GET"], list_package_versions),
    (f"{PACKAGE}/versions/<int:package_version_id>", ["GET"], get_package_version),
    (f"{PACKAGE}/versions/<int:package_version_id>", ["DELETE"], delete_package_version),
    (f"{PACKAGE}/versions/<int:package_version_id>/restore", ["POST"], restore_package_version),
    ("/docker/conflicts", ["GET"], docker_conflicts),
]
for prefix, kind in (("/orgs/<org>", "orgs"), ("/users/<username>", "users"), ("/user", "user")):
    for suffix, methods, view in ROUTES:
        blueprint.add_url_rule(prefix + suffix, f"{kind}_{view.__name__}", view, methods=methods,
                               defaults={"kind": kind})

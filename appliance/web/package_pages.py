"""A package's pages: `/orgs|users/OWNER/packages/FMT/package/NAME` with its `/versions`, a version's
`/versions/ID` and, for the admins of its repository, `/settings` (delete and restore, and who did).

NAME may hold `/` (npm scopes, Docker images, sent as %2F or not), so one rule takes the rest of the
path and the page is told by its end; a package whose own name ends like a page (`@acme/versions`) is
still found, as the whole name, when no package is named by what comes before. Everything is read and
written through the packages service, which decides permission: what the viewer may not see is the
same 404 page as what does not exist, or the sign-in page when signed out.
"""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

from flask import Blueprint, abort, flash, redirect, render_template, request
from markupsafe import Markup

from appliance.auth.permissions import Action
from appliance.formats.document_cache import DocumentCache
from appliance.models.base import utcnow
from appliance.packages import (
    AccessDenied,
    PackageNotFound,
    PackageView,
    RestoreExpired,
    VersionNotFound,
    delete_package,
    delete_version,
    deletion_history,
    downloads_by_day,
    find_package,
    find_version,
    get_package,
    get_version,
    list_versions,
    package_allows,
    restore_package,
    restore_version,
)
from appliance.settings import FORMATS, current_settings
from appliance.web.chart import downloads_chart
from appliance.web.install import install_context
from appliance.web.readme import rendered_readme
from appliance.web.site import not_found_page, page_actor, protect_forms, refused_page, sign_in_redirect

blueprint = Blueprint("package_pages", __name__)
protect_forms(blueprint)

OWNER_PATHS = {"organization": "orgs", "user": "users"}
VERSIONS_PER_PAGE = 50
OVERVIEWS = DocumentCache(size=256)
RECENT_VERSIONS = 10
SUFFIX = re.compile(r"^(?P<name>.+?)/(?:(?P<versions>versions)(?:/(?P<version_id>\d+))?|(?P<settings>settings))/?$")


def package_path(package: PackageView, suffix: str = "") -> str:
    """The URL of the package's page (`suffix`: "/versions", "/settings", ...), its name URL-encoded."""
    return (f"/{OWNER_PATHS.get(package.owner.kind, 'users')}/{quote(package.owner.login, safe='')}/packages/"
            f"{package.format}/package/{quote(package.name, safe='@:')}{suffix}")


@blueprint.app_template_global()
def package_url(package: PackageView, suffix: str = "") -> str:
    return package_path(package, suffix)


def _resolve(owner: str, fmt: str, rest: str) -> tuple[PackageView, str, int | None]:
    """(package, page, version id) for the path after `/package/`; AccessDenied as the service refuses."""
    actor = page_actor()
    match = SUFFIX.match(rest)
    if match:
        try:
            package = get_package(actor, owner, fmt, match["name"], include_deleted=True)
            return (package, "settings" if match["settings"] else "versions",
                    int(match["version_id"]) if match["version_id"] else None)
        except AccessDenied:
            pass  # perhaps a package whose own name ends in /versions or /settings
    return get_package(actor, owner, fmt, rest.rstrip("/"), include_deleted=True), "package", None


@blueprint.route("/<any(orgs, users):kind>/<owner>/packages/<fmt>/package/<path:rest>", methods=["GET", "POST"])
def package_page(kind: str, owner: str, fmt: str, rest: str):
    if fmt not in FORMATS:
        return not_found_page()
    try:
        package, page, version_id = _resolve(owner, fmt, rest)
    except AccessDenied as e:
        return refused_page(e)
    if OWNER_PATHS.get(package.owner.kind) != kind:
        return redirect(package_path(package), 301)
    try:
        if page == "settings":
            return settings_page(package) if request.method == "GET" else settings_change(package)
        if request.method != "GET":
            abort(405)
        if page == "versions" and version_id is not None:
            return version_page(package, version_id)
        if page == "versions":
            return versions_page(package)
        return overview_page(package)
    except AccessDenied as e:  # rights changed between reading the package and reading its parts
        return refused_page(e)
    except VersionNotFound:
        return not_found_page()


def _page_number() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 1_000_000 else 1


def _latest(package: PackageView):
    if not package.latest_version:
        return None
    try:
        return get_version(page_actor(), package, version=package.latest_version)
    except VersionNotFound:
        return None


def _docker_reference(package: PackageView, version) -> str | None:
    """What `docker pull` names: the `latest` tag, else a tag of the version, else its digest."""
    if version is None:
        return None
    if package.format != "docker":
        return version.version
    if package.tags.get("latest") == version.version:
        return "latest"
    return version.tags[0] if version.tags else version.version


def _readme(version) -> str | None:
    if version is None or not version.description:
        return None
    return rendered_readme(version.id, version.updated_at.isoformat(), version.description)


def _common(package: PackageView, admin: bool | None = None, **context) -> dict:
    actor = page_actor()
    if admin is None:
        admin = package_allows(actor, package, Action.DELETE)
    deleted_versions = list_versions(actor, package, state="deleted", per_page=1).total if admin else 0
    return {"package": package, "admin": admin, "deleted_versions": deleted_versions,
            "restorable_until": _restorable_until(package.deleted_at), **context}


def _restorable_until(deleted_at: dt.datetime | None) -> dt.datetime | None:
    """Until when a deletion can be undone (`retention.deleted_days` after it); None if not deleted."""
    if deleted_at is None:
        return None
    return deleted_at + dt.timedelta(days=current_settings()["retention.deleted_days"])


def overview_page(package: PackageView):
    """The package page. What it shows below the layout is the same for every reader (and again for
    every admin) until the package changes (every change moves its `updated_at`) or is downloaded, so
    a worker keeps it (OVERVIEWS) and a repeated visit costs the permission checks and the layout."""
    actor = page_actor()
    admin = package_allows(actor, package, Action.DELETE)
    settings = current_settings()
    key = (package.id, package.updated_at, package.downloads_total, package.repository.full_name,
           package.repository.visibility, package.owner.login, admin, request.scheme, request.host,
           settings["hostname"], settings["subdomain_isolation"], settings["retention.deleted_days"],
           utcnow().date())

    def content() -> Markup:
        latest = _latest(package)
        recent = list_versions(actor, package, per_page=RECENT_VERSIONS)
        chart = downloads_chart(downloads_by_day(actor, package, 90))
        return Markup(render_template("web/package_content.html", **_common(
            package, admin=admin, latest=latest, readme=_readme(latest), recent=recent, chart=chart,
            install=install_context(package, _docker_reference(package, latest)), tab="package")))

    return render_template("web/package.html", package=package, content=OVERVIEWS.get_or_build(key, content))


def versions_page(package: PackageView):
    actor = page_actor()
    page = list_versions(actor, package, page=_page_number(), per_page=VERSIONS_PER_PAGE)
    return render_template("web/versions.html", **_common(package, page=page, tab="versions"))


def version_page(package: PackageView, version_id: int):
    version = get_version(page_actor(), package, version_id=version_id)
    return render_template("web/version.html", **_common(
        package, version=version, readme=_readme(version), tab="versions",
        version_restorable_until=_restorable_until(version.deleted_at),
        install=install_context(package, _docker_reference(package, version))))


# ---- settings: delete and restore -------------------------------------------------------------------


def settings_page(package: PackageView, *, error: str | None = None, status: int = 200):
    actor = page_actor()
    if not package_allows(actor, package, Action.DELETE):
        return sign_in_redirect() if actor.user is None else not_found_page()
    deleted = list_versions(actor, package, state="deleted", page=_page_number(), per_page=VERSIONS_PER_PAGE)
    html = render_template("web/package_settings.html", **_common(
        package, deleted=deleted, history=deletion_history(actor, package), error=error,
        now=utcnow(), restorable_until_of=_restorable_until, tab="settings",
        config_days=current_settings()["retention.deleted_days"],
        prefill=request.values.get("version", "")))
    return html, status


def settings_change(package: PackageView):
    """One of the settings forms: delete_version, delete_package, restore_version, restore_package.
    Every change is the service's, which asks permission again."""
    actor = page_actor()
    if not package_allows(actor, package, Action.DELETE):
        return not_found_page()
    operation = request.form.get("operation", "")
    confirm = request.form.get("confirm", "").strip()
    row = find_package(package.owner.login, package.format, package.name, include_deleted=True)
    if row is None:
        return not_found_page()
    try:
        if operation == "delete_package":
            if confirm != package.name:
                return settings_page(package, error=f"Type the name of the package, {package.name}, to delete it.",
                                     status=400)
            delete_package(actor, row)
            done = f"Deleted {package.name}."
        elif operation == "restore_package":
            restore_package(actor, row)
            done = f"Restored {package.name}."
        elif operation in ("delete_version", "restore_version"):
            wanted = request.form.get("version", "").strip()
            version = find_version(row, wanted, include_deleted=True) if wanted else None
            if version is None or (operation == "delete_version") != (version.deleted_at is None):
                state = "live" if operation == "delete_version" else "deleted"
                return settings_page(package, error=f"{package.name} has no {state} version {wanted!r}.", status=400)
            if operation == "delete_version":
                if confirm != version.version:
                    return settings_page(package, error=f"Type the version, {version.version}, to delete it.",
                                         status=400)
                delete_version(actor, version)
                done = f"Deleted version {version.version}."
            else:
                restore_version(actor, version)
                done = f"Restored version {version.version}."
        else:
            return settings_page(package, error="Choose what to change.", status=400)
    except (PackageNotFound, VersionNotFound, RestoreExpired) as e:  # RestoreExpired: past retention.deleted_days
        return settings_page(package, error=str(e), status=400)
    flash(done)
    return redirect(package_path(package, "/settings"), 303)

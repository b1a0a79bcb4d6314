"""Pages that list packages: the dashboard `/`, search, an owner's and a repository's packages. Each
asks the packages service for one page of what the viewer may see (permission, filters and paging in
SQL) and renders it."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request
from markupsafe import Markup

from appliance.accounts.service import find_account
from appliance.formats.document_cache import DocumentCache
from appliance.packages import AccessDenied, PackageView, list_packages
from appliance.settings import FORMATS
from appliance.web.install import first_publish_context
from appliance.web.site import page_actor, refused_page

blueprint = Blueprint("listings", __name__)

PER_PAGE = 30
# Lists count so far and no further, as GitHub's show "1,000+": a count of every visible package costs
# each request a walk over all of them (10,000 packages: most of the dashboard's SQL).
COUNT_UP_TO = 1000
VISIBILITIES = ("public", "private", "internal")
OWNER_PATHS = {"organization": "orgs", "user": "users"}


# Rendered rows of package lists, by row_fields: rendering the rows was a quarter of a list page's CPU,
# and the same packages come back on every page of everyone who sees them.
ROWS = DocumentCache(size=20_000)


def row_fields(package: PackageView) -> tuple:
    """Everything web/partials/package_row.html shows of a package (its link included): the key of its
    rendered row, so a change to any of them renders it anew (tests/unit/web/test_listing_rows.py)."""
    return (package.id, package.format, package.name, package.owner.kind, package.owner.login,
            package.repository.full_name, package.repository.visibility, package.latest_version,
            package.downloads_total, package.updated_at)


@blueprint.app_template_global()
def package_row(package: PackageView) -> Markup:
    return ROWS.get_or_build(row_fields(package), lambda: Markup(
        current_app.jinja_env.get_template("web/partials/package_row.html").render(package=package)))


def _page_number() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


def _filters() -> dict:
    """The list filters of the query string, each dropped when it is not one the list knows."""
    fmt = request.args.get("type", "")
    visibility = request.args.get("visibility", "")
    return {"format": fmt if fmt in FORMATS else None,
            "visibility": visibility if visibility in VISIBILITIES else None,
            "text": request.args.get("q", "").strip()[:200] or None}


def _render(template: str, **context):
    return render_template(template, formats=FORMATS, visibilities=VISIBILITIES, **context)


@blueprint.get("/")
def dashboard():
    """Newest publishes first; signed out, the public packages (while anonymous_read is on)."""
    try:
        page = list_packages(page_actor(), page=_page_number(), per_page=PER_PAGE,
                             count_up_to=COUNT_UP_TO)
    except AccessDenied:
        page = None  # anonymous while anonymous_read is off: nothing to list, the sign-in link is shown
    actor = page_actor()
    # A newcomer's first visit: nothing to see yet, so the page says how to publish the first package.
    first_publish = first_publish_context(actor.login) \
        if page is not None and page.total == 0 and not actor.is_anonymous else None
    return _render("web/dashboard.html", page=page, first_publish=first_publish)


@blueprint.get("/search")
def search():
    filters = _filters()
    try:
        page = list_packages(page_actor(), **filters, page=_page_number(), per_page=PER_PAGE,
                             count_up_to=COUNT_UP_TO)
    except AccessDenied as e:
        return refused_page(e)
    return _render("web/package_list.html", page=page, filters=filters, title="Search",
                   heading=f"Packages matching “{filters['text']}”" if filters["text"] else "All packages",
                   search_text=filters["text"] or "", action="/search")


# Static first parts, so that these win over `/OWNER/REPO/packages` for the owners `orgs` and `users`.
@blueprint.get("/orgs/<owner>/packages", defaults={"kind": "orgs"})
@blueprint.get("/users/<owner>/packages", defaults={"kind": "users"})
def owner_packages(kind: str, owner: str):
    filters = _filters()
    try:
        page = list_packages(page_actor(), owner=owner, **filters, page=_page_number(), per_page=PER_PAGE,
                             count_up_to=COUNT_UP_TO)
    except AccessDenied as e:
        return refused_page(e)
    account = page.items[0].owner if page.items else find_account(owner)
    if OWNER_PATHS.get(account.kind) != kind:  # /users/ORG/packages: the organization's own page
        return redirect(request.full_path.replace(f"/{kind}/", f"/{OWNER_PATHS[account.kind]}/", 1), 301)
    return _render("web/package_list.html", page=page, filters=filters, title=f"{account.login}’s packages",
                   heading=f"Packages of {account.login}", action=request.path)


@blueprint.get("/<owner>/<repository>/packages")
def repository_packages(owner: str, repository: str):
    filters = _filters()
    try:
        page = list_packages(page_actor(), repository=f"{owner}/{repository}", **filters, page=_page_number(),
                             per_page=PER_PAGE, count_up_to=COUNT_UP_TO)
    except AccessDenied as e:
        return refused_page(e)
    return _render("web/package_list.html", page=page, filters=filters, title=f"{owner}/{repository}",
                   heading=f"Packages of the repository {owner}/{repository}", action=request.path,
                   repository=f"{owner}/{repository}")

"""Every package page for the actors of a browser (anonymous, an outsider, collaborators with read, write
and admin, a site admin) on a public, a private and an internal repository, with anonymous_read on and
off: each answers what DESIGN.md's "Who may do what" says the registries answer. Reading (R) decides the
package, versions, version, owner, repository, search and dashboard pages; deleting (D) the settings page.
ok is the page; 401 is the sign-in page with the deep link kept; anything else is the 404 page, the same
as for a package that does not exist."""
from __future__ import annotations

from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

from appliance.models import Account
from appliance.settings import store_setting
from tests.support.permission_matrix import MATRIX, REPOSITORIES, VISIBILITIES, arrange_actors
from tests.support.web import publish, sign_in_session

PAGE_ACTORS = ("anonymous", "stranger", "collab-read", "collab-write", "collab-admin", "site-admin")
MISSING = "/orgs/acme/packages/npm/package/@acme%2Fnothing-here"


def package_name(visibility: str) -> str:
    return f"@acme/pkg-{visibility}"


@pytest.fixture
def world(app):
    with app.app_context():
        return arrange_world()


def arrange_world() -> dict[str, int]:
    """acme's npm package @acme/pkg-VISIBILITY in each repository of the matrix, two versions each;
    the id of each one's newest version."""
    arrange_actors()
    versions = {}
    for visibility, repository in REPOSITORIES.items():
        for number in ("1.0.0", "1.1.0"):
            version = publish("acme-owner", "acme", repository, package_name(visibility), number,
                              readme=f"# Readme of {visibility}", tags=("latest",))
        versions[visibility] = version.id
    return versions


def package_page(visibility: str) -> str:
    return f"/orgs/acme/packages/npm/package/{quote(package_name(visibility), safe='@')}"


def client_of(app, actor: str, anonymous_read: bool):
    """A browser of `actor` (signed in unless anonymous) on the appliance with `anonymous_read`."""
    with app.app_context():
        store_setting("anonymous_read", anonymous_read)
    client = app.test_client()
    if actor != "anonymous":
        sign_in_session(client, Account.get(Account.lower_login == actor))
    return client


def expect(response, cell: str, path: str, actor: str = "") -> None:
    body = response.get_data(as_text=True)
    if cell == "ok":
        assert response.status_code == 200, (actor, path, response.status_code)
    elif cell == "401":
        assert response.status_code == 302, (actor, path, response.status_code)
        location = urlsplit(response.headers["Location"])
        # The deep link, as the server read the path (%2F decoded: the page answers that form too).
        assert location.path == "/login" and parse_qs(location.query)["next"] == [unquote(path)], location
    else:
        assert response.status_code == 404, (actor, path, response.status_code, cell)
        assert "Not found" in body and "pkg-" not in body


@pytest.mark.parametrize("anonymous_read", [True, False])
def test_pages_follow_the_matrix(app, world, anonymous_read):
    # One arranged world for every actor: the in-process matrix stays quick on PostgreSQL too.
    for actor in PAGE_ACTORS:
        check_package_pages(client_of(app, actor, anonymous_read), world, actor, anonymous_read)
        check_lists(client_of(app, actor, anonymous_read), actor, anonymous_read)


def check_package_pages(client, world: dict[str, int], actor: str, anonymous_read: bool) -> None:
    for visibility in VISIBILITIES:
        read = MATRIX[anonymous_read][actor, visibility, "R"]
        delete = MATRIX[anonymous_read][actor, visibility, "D"]
        base = package_page(visibility)
        for path in (base, f"{base}/versions", f"{base}/versions/{world[visibility]}"):
            response = client.get(path)
            expect(response, read, path, actor)
            if read == "ok":
                assert package_name(visibility) in response.get_data(as_text=True)
        settings = client.get(f"{base}/settings")
        # Settings need delete rights; an anonymous reader of a public package is asked to sign in.
        expect(settings, delete if delete in ("ok", "401") else "404", f"{base}/settings", actor)
        listing = client.get(f"/acme/{REPOSITORIES[visibility]}/packages")
        expect(listing, read, f"/acme/{REPOSITORIES[visibility]}/packages", actor)
        if read == "ok":
            assert package_name(visibility) in listing.get_data(as_text=True)
    # A package that does not exist answers as one the actor may not see.
    expect(client.get(MISSING), "401" if actor == "anonymous" else "404", MISSING, actor)


def check_lists(client, actor: str, anonymous_read: bool) -> None:
    """Lists show exactly the packages the actor may read."""
    readable = {v for v in VISIBILITIES if MATRIX[anonymous_read][actor, v, "R"] == "ok"}
    lists_anything = actor != "anonymous" or anonymous_read
    for path in ("/orgs/acme/packages", "/search?q=pkg-"):
        response = client.get(path)
        if not lists_anything:
            expect(response, "401", path, actor)
            continue
        body = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert {v for v in VISIBILITIES if package_name(v) in body} == readable, (path, actor)
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    body = dashboard.get_data(as_text=True)
    assert {v for v in VISIBILITIES if package_name(v) in body} == readable
    assert ('href="/login?next=/"' in body) == (actor == "anonymous")


def test_an_owner_page_under_the_wrong_kind_moves_to_the_right_one(app, world):
    client = app.test_client()
    assert client.get("/users/acme/packages?type=npm").headers["Location"] == "/orgs/acme/packages?type=npm"
    moved = client.get("/users/acme/packages/npm/package/@acme%2Fpkg-public")
    assert moved.status_code == 301 and moved.headers["Location"] == package_page("public")
    # Not for a package the actor may not see: that stays the sign-in page.
    assert client.get("/users/acme/packages/npm/package/@acme%2Fpkg-private").status_code == 302

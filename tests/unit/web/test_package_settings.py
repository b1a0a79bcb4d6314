"""A package's settings page: its repository's admins delete a version or the whole package (typing
its name or version to confirm), restore within retention.deleted_days, and see who did what; every
form needs the session's CSRF token."""
from __future__ import annotations

import datetime as dt

import pytest

from appliance.accounts.service import create_organization, create_repository, create_user, get_account, grant
from appliance.models.base import utcnow
from appliance.models.packages import Package, PackageVersion
from appliance.settings import store_setting
from tests.support.web import csrf_token, publish, sign_in_session

PAGE = "/orgs/acme/packages/npm/package/@acme%2Fwidget"
SETTINGS = f"{PAGE}/settings"


@pytest.fixture
def admin(app):
    with app.app_context():
        alice = create_user("alice")
        writer = create_user("walter")
        org = create_organization("acme", alice)
        repository = create_repository(org, "widgets", "private")
        grant(repository, writer, "write")
        store_setting("retention.deleted_days", 30)
        publish("alice", "acme", "widgets", "@acme/widget", "1.0.0", tags=("latest",))
        publish("alice", "acme", "widgets", "@acme/widget", "1.1.0", tags=("latest",))
        return alice


def submit(client, **fields):
    token = csrf_token(client.get(SETTINGS).get_data(as_text=True))
    return client.post(SETTINGS, data={"csrf_token": token, **fields})


def live_versions() -> set[str]:
    return {v.version for v in PackageVersion.select().where(PackageVersion.deleted_at.is_null())}


def test_delete_and_restore_a_version_with_its_history(app, admin, client):
    sign_in_session(client, admin)
    wrong = submit(client, operation="delete_version", version="1.1.0", confirm="1.0.0")
    assert wrong.status_code == 400 and "Type the version, 1.1.0" in wrong.get_data(as_text=True)
    with app.app_context():
        assert live_versions() == {"1.0.0", "1.1.0"}
    done = submit(client, operation="delete_version", version="1.1.0", confirm="1.1.0")
    assert done.status_code == 303 and done.headers["Location"] == SETTINGS
    page = client.get(SETTINGS).get_data(as_text=True)
    assert "Deleted version 1.1.0." in page
    deleted_row = page.split('data-testid="deleted-versions"')[1].split("</table>")[0]
    assert 'data-version="1.1.0"' in deleted_row and "Restore" in deleted_row
    with app.app_context():
        assert live_versions() == {"1.0.0"}
    assert "1 deleted version can be restored" in client.get(PAGE).get_data(as_text=True)
    assert submit(client, operation="restore_version", version="1.1.0").status_code == 303
    with app.app_context():
        assert live_versions() == {"1.0.0", "1.1.0"}
    history = client.get(SETTINGS).get_data(as_text=True).split('data-testid="history"')[1].split("</table>")[0]
    assert history.index("restored version <code>1.1.0</code>") < history.index("deleted version <code>1.1.0</code>")
    assert history.count("<td>alice</td>") == 2
    missing = submit(client, operation="restore_version", version="9.9.9")
    assert missing.status_code == 400 and "no deleted version" in missing.get_data(as_text=True)


def test_delete_the_package_by_typing_its_name_and_restore_it(app, admin, client):
    sign_in_session(client, admin)
    refused = submit(client, operation="delete_package", confirm="widget")
    assert refused.status_code == 400 and "Type the name of the package, @acme/widget" in refused.get_data(as_text=True)
    assert submit(client, operation="delete_package", confirm="@acme/widget").status_code == 303
    with app.app_context():
        assert Package.get().deleted_at is not None
    page = client.get(PAGE).get_data(as_text=True)
    assert 'data-testid="package-deleted"' in page and "can be restored until" in page
    assert "@acme/widget" not in client.get("/orgs/acme/packages").get_data(as_text=True)
    assert submit(client, operation="restore_package").status_code == 303
    with app.app_context():
        assert Package.get().deleted_at is None
    history = client.get(SETTINGS).get_data(as_text=True)
    assert "restored the package" in history and "deleted the package" in history


def test_a_deletion_older_than_retention_cannot_be_restored(app, admin, client):
    sign_in_session(client, admin)
    submit(client, operation="delete_version", version="1.0.0", confirm="1.0.0")
    with app.app_context():
        PackageVersion.update(deleted_at=utcnow() - dt.timedelta(days=31)).where(
            PackageVersion.version == "1.0.0").execute()
    page = client.get(SETTINGS).get_data(as_text=True)
    assert "too old" in page.split('data-testid="deleted-versions"')[1].split("</table>")[0]
    refused = submit(client, operation="restore_version", version="1.0.0")
    assert refused.status_code == 400 and "too long ago" in refused.get_data(as_text=True)


def test_the_forms_need_the_csrf_token(app, admin, client):
    sign_in_session(client, admin)
    client.get(SETTINGS)
    for fields in ({"operation": "delete_version", "version": "1.0.0", "confirm": "1.0.0"},
                   {"operation": "delete_package", "confirm": "@acme/widget"}):
        assert client.post(SETTINGS, data=fields).status_code == 400
        assert client.post(SETTINGS, data={**fields, "csrf_token": "forged"}).status_code == 400
    with app.app_context():
        assert live_versions() == {"1.0.0", "1.1.0"} and Package.get().deleted_at is None


def test_a_writer_gets_the_404_page_and_changes_nothing(app, admin, client):
    with app.app_context():
        walter = get_account("walter")
    sign_in_session(client, walter)
    assert client.get(PAGE).status_code == 200
    assert client.get(SETTINGS).status_code == 404
    # Even a form with a valid CSRF token (from a page walter may see) changes nothing.
    token = csrf_token(client.get("/settings/tokens").get_data(as_text=True))
    posted = client.post(SETTINGS, data={"csrf_token": token, "operation": "delete_package", "confirm": "@acme/widget"})
    assert posted.status_code == 404
    with app.app_context():
        assert Package.get().deleted_at is None

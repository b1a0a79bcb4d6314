"""Cloud billing's pages: the console's Billing (every owner's month, an owner's usage and the spending limit
form, audited, with CSRF), the owners' own usage pages (`/settings/billing`,
`/organizations/ORG/settings/billing`), the permission matrix of each for anonymous, a user, an organization
owner, a plain member and a site admin, and all of it off outside `cloud`."""
from __future__ import annotations

import pytest

from appliance import packages as service
from appliance.accounts.service import add_member, create_user, get_account
from appliance.models.audit import AuditEvent
from appliance.models.billing import SpendingLimit
from appliance.settings import store_setting
from tests.support.web import csrf_token, post_form, sign_in

CONSOLE_PAGES = ["/console/billing", "/console/billing/acme", "/console/billing/ursula"]
LIMIT_FORM = ("/console/billing/acme", {"amount": "42.50"})
OWNER_PAGES = {
    # page -> who sees it (everyone else signed in gets the 404 page; anonymous, the sign-in page)
    "/settings/billing": {"ursula", "olivia", "max", "root"},
    "/organizations/acme/settings/billing": {"olivia", "root"},
    "/organizations/ursula/settings/billing": set(),  # a user is no organization
    "/organizations/nobody/settings/billing": set(),
}
SIGNED_IN = ["ursula", "olivia", "max", "root"]


@pytest.fixture
def world(app, people):
    """The console's people, plus max, a plain member of acme, in the cloud edition."""
    with app.app_context():
        add_member(get_account("acme"), create_user("max", password="max-password"), "member")
        store_setting("edition", "cloud")
    return people


def limits(app) -> dict[str, int]:
    with app.app_context():
        return {row.owner.login: row.cents for row in SpendingLimit.select()}


def billing_audits(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [(e.actor_login, e.target, e.data) for e in
                AuditEvent.select().where(AuditEvent.action == "billing.spending_limit").order_by(AuditEvent.id)]


@pytest.mark.parametrize("who", [None, *SIGNED_IN])
def test_who_sees_the_owners_usage_pages(client, world, who):
    if who:
        sign_in(client, who)
    for page, readers in OWNER_PAGES.items():
        response = client.get(page)
        if who is None:
            assert response.status_code == 302 and response.location.startswith("/login?next="), page
        elif who in readers:
            assert response.status_code == 200, (who, page)
            assert 'data-testid="billing-usage"' in response.get_data(as_text=True)
            assert response.headers["Cache-Control"] == "no-store"
        else:
            assert response.status_code == 404 and "Not found" in response.get_data(as_text=True), (who, page)


@pytest.mark.parametrize("who", [None, "ursula", "olivia", "max"])
def test_nobody_but_a_site_admin_reaches_the_console_billing(client, app, world, who):
    if who:
        sign_in(client, who)
    for page in CONSOLE_PAGES:
        response = client.get(page)
        expected = 302 if who is None else 404
        assert response.status_code == expected, (who, page)
    token = csrf_token(client.get("/settings/tokens").get_data(as_text=True)) if who else ""
    path, form = LIMIT_FORM
    response = client.post(path, data={"csrf_token": token, **form})
    assert response.status_code == (302 if who is None else 404)
    assert limits(app) == {} and billing_audits(app) == []


def test_the_site_admin_sets_a_limit_the_owner_then_sees(client, app, world):
    sign_in(client, "root")
    for page in CONSOLE_PAGES:
        assert client.get(page).status_code == 200, page
    path, form = LIMIT_FORM
    response = post_form(client, path, **form)
    assert response.status_code == 303
    page = client.get(response.location).get_data(as_text=True)
    assert "acme&#39;s spending limit is now $42.50 a month" in page
    assert limits(app) == {"acme": 4250}
    assert billing_audits(app) == [("root", "org:acme", '{"before": null, "after": 4250}')]
    # The owners' page lists it; back to the default with an empty amount.
    assert "$42.50" in client.get("/console/billing").get_data(as_text=True)
    post_form(client, path, amount="")
    assert limits(app) == {}
    assert billing_audits(app)[-1] == ("root", "org:acme", '{"before": 4250, "after": null}')

    olivia = app.test_client()
    sign_in(olivia, "olivia")
    post_form(client, path, amount="7")
    usage = olivia.get("/organizations/acme/settings/billing").get_data(as_text=True)
    assert '<td data-testid="billing-limit">$7.00 a month</td>' in usage


def test_a_bad_amount_is_refused_with_a_message_and_changes_nothing(client, app, world):
    sign_in(client, "root")
    response = post_form(client, "/console/billing/acme", amount="lots")
    page = client.get(response.location).get_data(as_text=True)
    assert "the spending limit was not changed: a spending limit is an amount in dollars" in page
    assert client.get("/console/billing/nobody").status_code == 404
    assert post_form(client, "/console/billing/acme", "/console/billing/nobody", amount="5").status_code == 404
    assert limits(app) == {} and billing_audits(app) == []


def test_the_limit_form_needs_its_csrf_token(client, app, world):
    sign_in(client, "root")
    path, form = LIMIT_FORM
    assert 'name="csrf_token"' in client.get(path).get_data(as_text=True)
    missing = client.post(path, data=form)
    forged = client.post(path, data={"csrf_token": "forged", **form})
    assert missing.status_code == forged.status_code == 400
    assert "This form has expired" in missing.get_data(as_text=True)
    assert limits(app) == {} and billing_audits(app) == []


def test_usage_page_shows_this_months_storage_transfer_and_cost(client, app, world):
    with app.app_context():
        store_setting("billing.included_transfer_bytes", 0)
        store_setting("billing.transfer_cents_per_gb", 100)
        store_setting("billing.default_spending_limit_cents", 0)
        service.record_transfer(get_account("acme").repositories.get(), 1024**3)  # acme/widgets is private
    sign_in(client, "olivia")
    page = client.get("/organizations/acme/settings/billing").get_data(as_text=True)
    assert "1.00 GB downloaded this month, 0 bytes included" in page
    assert '<td data-testid="billing-cost">$1.00</td>' in page
    assert 'data-testid="billing-reached"' in page
    assert "/settings/billing" in page  # the header links to the signed-in person's own billing


def test_billing_is_off_outside_cloud(client, app, world):
    with app.app_context():
        store_setting("edition", "enterprise-server")
    sign_in(client, "root")
    for page in OWNER_PAGES:
        assert client.get(page).status_code == 404, page
    assert 'href="/settings/billing"' not in client.get("/settings/tokens").get_data(as_text=True)
    assert 'data-testid="billing-off"' in client.get("/console/billing").get_data(as_text=True)
    response = post_form(client, "/console/billing/acme", amount="10")
    assert "the enterprise-server edition has no billing" in client.get(response.location).get_data(as_text=True)
    assert limits(app) == {} and billing_audits(app) == []

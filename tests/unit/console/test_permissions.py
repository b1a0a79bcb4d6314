"""Every console route and action, for anonymous, a user, an organization owner and a site admin: only the
site admin reaches it; a signed-out visitor is sent to sign in, anyone else gets the 404 page; and every
form needs its CSRF token."""
from __future__ import annotations

import pytest

from appliance.models.accounts import Account
from appliance.models.audit import AuditEvent
from appliance.models.billing import SpendingLimit
from appliance.settings import RuntimeSettings
from tests.support.web import csrf_token, sign_in

PAGES = ["/console", "/console/settings", "/console/maintenance", "/console/users", "/console/users/ursula",
         "/console/orgs", "/console/orgs/acme", "/console/repos", "/console/repos/acme/widgets",
         "/console/packages", "/console/billing", "/console/billing/acme", "/console/jobs", "/console/ldap", "/console/audit", "/console/audit.csv"]

# (path, form): every action of the console, each of which would change something if it were let through.
ACTIONS = [
    ("/console/settings/hostname", {"value": "changed.example.com"}),
    ("/console/maintenance", {"mode": "on", "message": "down"}),
    ("/console/users", {"login": "mallory", "password": "x"}),
    ("/console/users/ursula/suspend", {}),
    ("/console/users/ursula/unsuspend", {}),
    ("/console/users/ursula/promote", {}),
    ("/console/users/root/demote", {}),
    ("/console/users/ursula/reset-password", {"password": "taken-over"}),
    ("/console/orgs", {"name": "evil", "owner": "ursula"}),
    ("/console/orgs/acme/members", {"user": "ursula", "role": "owner"}),
    ("/console/repos", {"full_name": "acme/evil", "visibility": "public"}),
    ("/console/repos/acme/widgets/visibility", {"visibility": "public"}),
    ("/console/repos/acme/widgets/collaborators", {"user": "ursula", "role": "admin"}),
    ("/console/billing/acme", {"amount": "99"}),
    ("/console/jobs/storage_usage/run", {}),
    ("/console/ldap", {"uri": "ldap://evil.example", "user_base": "dc=evil", "user_filter": "(uid={login})"}),
    ("/console/ldap/check", {}),
]


def snapshot(home=None):
    """What any console action would change: settings, accounts, audit entries of the console, the
    bootstrap file (the LDAP page writes its [ldap]) and spending limits."""
    accounts = [(a.login, a.site_admin, a.suspended, a.password_hash) for a in Account.select().order_by(Account.id)]
    console_actions = AuditEvent.select().where(~AuditEvent.action.startswith("user.sign")).count()
    bootstrap = (home / "appliance.toml").read_text() if home else ""
    limits = list(SpendingLimit.select(SpendingLimit.owner, SpendingLimit.cents).tuples())
    return dict(RuntimeSettings.load().items()), accounts, console_actions, bootstrap, limits


@pytest.mark.parametrize("who", [None, "ursula", "olivia"])
def test_nobody_but_a_site_admin_reaches_a_page(client, people, who):
    if who:
        sign_in(client, who)
    for page in PAGES:
        response = client.get(page)
        if who is None:
            assert response.status_code == 302 and response.location.startswith("/login?next="), page
        else:
            assert response.status_code == 404 and "Not found" in response.get_data(as_text=True), page


@pytest.mark.parametrize("who", [None, "ursula", "olivia"])
def test_nobody_but_a_site_admin_can_act(client, app, people, who):
    if who:
        sign_in(client, who)
    # A valid CSRF token of the person's own session: what stops them is the permission, not the token.
    token = csrf_token(client.get("/settings/tokens").get_data(as_text=True)) if who else ""
    with app.app_context():
        before = snapshot(app.config["BOOTSTRAP"].home)
    for path, form in ACTIONS:
        response = client.post(path, data={"csrf_token": token, **form})
        assert response.status_code in ((302,) if who is None else (404,)), (path, response.status_code)
    with app.app_context():
        assert snapshot(app.config["BOOTSTRAP"].home) == before


def test_the_site_admin_reaches_every_page(client, people):
    sign_in(client, "root")
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        assert response.headers["Cache-Control"] == "no-store"


def test_a_token_of_a_site_admin_does_not_open_the_console(client, app, people):
    from appliance.auth.tokens import issue_token

    with app.app_context():
        _, secret = issue_token(Account.get(Account.login == "root"), ["read:packages", "write:packages", "repo"])
    response = client.get("/console/settings", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 302  # a browser session or nothing


def test_every_form_needs_its_csrf_token(client, app, people):
    sign_in(client, "root")
    with app.app_context():
        before = snapshot(app.config["BOOTSTRAP"].home)
    for path, form in ACTIONS:
        missing = client.post(path, data=form)
        wrong = client.post(path, data={"csrf_token": "forged", **form})
        assert missing.status_code == 400 and wrong.status_code == 400, path
        assert "This form has expired" in missing.get_data(as_text=True)
    with app.app_context():
        assert snapshot(app.config["BOOTSTRAP"].home) == before


def test_every_console_form_carries_the_token(client, people):
    """Each page's forms include the CSRF field, so every action above is reachable with it."""
    sign_in(client, "root")
    for page in PAGES[:-1]:
        html = client.get(page).get_data(as_text=True)
        assert html.count('method="post"') == html.count('name="csrf_token"'), page

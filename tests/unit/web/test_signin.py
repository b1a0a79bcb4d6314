"""Signing in and out of the pages: the identity seam, the slowdown after wrong passwords, session
epochs, CSRF, cookie flags and the headers every page carries."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from werkzeug.security import generate_password_hash

from appliance import create_app
from appliance.accounts import identity
from appliance.accounts.identity import IdentityUnavailable, SignInError, sign_in
from appliance.accounts.service import create_organization, create_user, set_password
from appliance.auth.recent import LIFETIME
from appliance.db import database
from appliance.models import Account, AuditEvent, SignInFailure
from appliance.models.base import utcnow
from tests.support.queries import Queries
from tests.support.recent import recent_answers_on_a_clock
from tests.support.web import csrf_token, post_form
from tests.support.web import sign_in as sign_in_page


@pytest.fixture
def alice(app):
    return create_user("alice", password="alice-password")


def signed_in_as(client) -> str | None:
    html = client.get("/login?next=/nowhere").get_data(as_text=True)
    if "Sign in to" in html:
        return None
    return "signed in"


def test_the_sign_in_page_has_a_form_with_a_csrf_token_and_the_hardening_headers(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert csrf_token(html)
    assert "<script>" not in html and "style=" not in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_stylesheet_and_script_are_served_by_the_appliance(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/_static/app.css"' in html and 'src="/_static/app.js"' in html
    assert client.get("/_static/app.css").status_code == 200
    assert client.get("/_static/app.js").status_code == 200
    assert "http" not in html.split("<main>")[0].replace(f"http://{'localhost'}", "")


def test_signing_in_goes_to_next_and_shows_the_user(client, alice):
    response = sign_in_page(client, "alice", next_path="/settings/tokens")
    assert response.status_code == 302 and response.headers["Location"] == "/settings/tokens"
    html = client.get("/login").get_data(as_text=True)
    # Signed in, /login sends the person on.
    assert client.get("/login").status_code == 302, html
    cookie = client.get_cookie("appliance_session")
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    assert AuditEvent.get(AuditEvent.action == "user.sign_in").actor_login == "alice"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)", "evil", "/ok\r\nSet-Cookie: x=1"])
def test_next_never_leaves_the_host(client, alice, target):
    response = sign_in_page(client, "alice", next_path=target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_wrong_password_is_refused_with_a_message(client, alice):
    response = sign_in_page(client, "alice", "nope")
    assert response.status_code == 401
    assert "wrong login or password" in response.get_data(as_text=True)
    assert client.get_cookie("appliance_session") is None or signed_in_as(client) is None


def test_a_form_without_its_csrf_token_is_refused(client, alice):
    response = client.post("/login", data={"login": "alice", "password": "alice-password"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert signed_in_as(client) is None


def test_five_wrong_passwords_in_a_minute_slow_that_login_down(client, alice):
    for _ in range(5):
        assert sign_in_page(client, "alice", "wrong").status_code == 401
    response = sign_in_page(client, "alice")  # the right password, too soon
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) <= 60
    assert "too many wrong passwords for alice" in response.get_data(as_text=True)
    # Another login is not slowed down, and the rows are in the database, where every worker reads them.
    create_user("bob", password="bob-password")
    assert sign_in_page(client.application.test_client(), "bob").status_code == 302
    assert SignInFailure.select().where(SignInFailure.lower_login == "alice").count() == 5
    # A minute later alice signs in again, and her count starts over.
    SignInFailure.update(created_at=utcnow() - dt.timedelta(seconds=61)).execute()
    assert sign_in_page(client, "alice").status_code == 302
    assert SignInFailure.select().count() == 0


def test_existing_password_hashes_keep_working(app):
    create_user("old")
    Account.update(password_hash=generate_password_hash("pw", method="pbkdf2:sha256")).execute()
    assert sign_in("old", "pw").login == "old"
    assert create_user("new", password="pw").password_hash.startswith("scrypt:")


def test_organizations_and_suspended_users_cannot_sign_in(app, alice):
    create_organization("acme", alice)
    with pytest.raises(SignInError, match="wrong login or password"):
        sign_in("acme", "anything")
    Account.update(suspended=True).where(Account.id == alice.id).execute()
    with pytest.raises(SignInError, match="alice is suspended"):
        sign_in("alice", "alice-password")


class FakeDirectory:
    name = "fake"

    def __init__(self, *, down: bool = False):
        self.down = down

    def authenticate(self, login, password):
        if self.down:
            raise IdentityUnavailable("the directory at ldap://127.0.0.1:1 does not answer")
        if password == "directory-password":
            return Account.get_or_none(Account.lower_login == login.lower()) or create_user(login)
        return None


def test_registered_sources_are_asked_after_the_built_in_accounts(app, alice):
    identity.register_identity_source(FakeDirectory())
    try:
        assert sign_in("carol", "directory-password").login == "carol"
        assert sign_in("alice", "alice-password").login == "alice"
        with pytest.raises(SignInError, match="wrong login or password"):
            sign_in("carol", "nope")
        identity.register_identity_source(FakeDirectory(down=True))  # same name: replaces it
        assert len(identity.identity_sources()) == 1
        with pytest.raises(SignInError, match="cannot check this password now: the directory at"):
            sign_in("dave", "directory-password")
    finally:
        identity.unregister_identity_source("fake")


def test_signing_out_ends_the_session(client, alice):
    sign_in_page(client, "alice")
    response = post_form(client, "/settings/tokens", "/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert signed_in_as(client) is None


def test_logout_is_post_only(client):
    assert client.get("/logout").status_code in (404, 405)


def test_a_new_session_epoch_signs_the_user_out_of_every_session(app, alice):
    first, second = app.test_client(), app.test_client()
    sign_in_page(first, "alice")
    sign_in_page(second, "alice")
    post_form(first, "/settings/tokens", "/logout", everywhere="1")
    assert signed_in_as(first) is None and signed_in_as(second) is None
    # A password change and a suspension do the same.
    sign_in_page(second, "alice")
    set_password(Account.get_by_id(alice.id), "new-password")
    assert signed_in_as(second) is None
    sign_in_page(second, "alice", "new-password")
    assert signed_in_as(second) == "signed in"
    Account.update(suspended=True).where(Account.id == alice.id).execute()
    assert signed_in_as(second) is None


@pytest.mark.parametrize("change", ["session_epoch", "suspended"])
def test_a_session_ended_on_another_worker_ends_here_within_the_second(app, alice, change):
    """A page looks up the session's account once a second (as registries do a token): a sign-out
    everywhere or a suspension written by another worker or node holds here within that second."""
    clock = recent_answers_on_a_clock(app)
    client = app.test_client()
    sign_in_page(client, "alice")
    assert signed_in_as(client) == "signed in"
    with Queries() as queries:
        assert signed_in_as(client) == "signed in"
    assert not any('FROM "account"' in sql for sql in queries.statements)
    # Written by another process: nothing in this one moves `credential_writes`.
    value = {"session_epoch": alice.session_epoch + 1, "suspended": True}[change]
    mark = database.param
    database.execute_sql(f'UPDATE "account" SET "{change}" = {mark} WHERE id = {mark}',
                         (Account._meta.fields[change].db_value(value), alice.id))
    clock.now += LIFETIME - 0.01
    assert signed_in_as(client) == "signed in"
    clock.now += 0.01
    assert signed_in_as(client) is None


def test_the_session_cookie_is_secure_behind_tls(bootstrap, alice):
    app = create_app(dataclasses.replace(bootstrap, trusted_proxies=1))
    client = app.test_client()
    headers = {"X-Forwarded-Proto": "https"}
    token = csrf_token(client.get("/login", headers=headers).get_data(as_text=True))
    client.post("/login", data={"csrf_token": token, "login": "alice", "password": "alice-password"},
                headers=headers)
    assert client.get_cookie("appliance_session").secure


def test_an_unknown_page_is_the_404_page_and_registries_keep_their_own(client):
    response = client.get("/no/such/page/here")
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)
    assert response.headers["X-Frame-Options"] == "DENY"
    npm = client.get("/_registry/npm/-/no/such")
    assert npm.status_code == 404 and "Not found</h1>" not in npm.get_data(as_text=True)

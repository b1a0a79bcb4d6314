"""The console's LDAP page against a real slapd: the [ldap] settings shown (never the bind password), the
check that binds and searches (and says what is wrong with a bad bind password), and new settings saved
into appliance.toml after the same validation as at start."""
from __future__ import annotations

import dataclasses

import pytest

from appliance import create_app
from appliance.accounts.service import create_user
from appliance.models.audit import AuditEvent
from appliance.settings import Bootstrap
from tests.clients.test_ldap import CAROL, config_for, slapd  # noqa: F401 - the module's slapd fixture
from tests.support.slapd import SERVICE_PASSWORD
from tests.support.web import post_form, sign_in


def console_app(bootstrap, config):
    configured = dataclasses.replace(bootstrap, ldap=config)
    configured.write()
    app = create_app(configured)
    app.config["TESTING"] = True
    with app.app_context():
        create_user("root", password="root-password", site_admin=True)
    return app, configured


@pytest.fixture
def admin(bootstrap, slapd):  # noqa: F811
    app, configured = console_app(bootstrap, config_for(slapd))
    client = app.test_client()
    sign_in(client, "root")
    return app, client, configured


def test_the_page_shows_the_settings_and_the_check_says_what_it_found(admin, slapd):  # noqa: F811
    app, client, _configured = admin
    page = client.get("/console/ldap").get_data(as_text=True)
    assert slapd.uri in page and "ou=people" in page.lower()
    assert SERVICE_PASSWORD not in page and "set: leave empty to keep it" in page
    checked = post_form(client, "/console/ldap", "/console/ldap/check")
    result = client.get(checked.location).get_data(as_text=True)
    assert "bound to 127.0.0.1" in result and "users under" in result and CAROL.login in result
    with app.app_context():
        assert AuditEvent.get(AuditEvent.action == "ldap.check").actor_login == "root"


def test_a_wrong_bind_password_is_reported(bootstrap, slapd):  # noqa: F811
    app, _ = console_app(bootstrap, config_for(slapd, bind_password="wrong"))
    client = app.test_client()
    sign_in(client, "root")  # the built-in admin signs in while the directory refuses the service bind
    checked = post_form(client, "/console/ldap", "/console/ldap/check")
    result = client.get(checked.location).get_data(as_text=True)
    assert "the directory check failed" in result


def test_settings_are_validated_and_saved_keeping_the_bind_password(admin, slapd):  # noqa: F811
    _app, client, configured = admin
    form = {"uri": "http://not-ldap", "user_base": "ou=people,dc=example,dc=com", "user_filter": "(uid={login})"}
    refused = post_form(client, "/console/ldap", "/console/ldap", **form)
    assert "expected ldap:// or ldaps://" in client.get(refused.location).get_data(as_text=True)
    assert Bootstrap.load(configured.home).ldap == configured.ldap
    form = {"uri": f"{slapd.uri} ldap://127.0.0.1:1", "user_base": configured.ldap.user_base,
            "user_filter": "(&(objectClass=person)(uid={login}))", "bind_dn": configured.ldap.bind_dn,
            "bind_password": "", "timeout": "3", "organizations": "cn=acme,ou=groups,dc=example,dc=com = acme"}
    saved = post_form(client, "/console/ldap", "/console/ldap", **form)
    page = client.get(saved.location).get_data(as_text=True)
    assert "restart the appliance" in page
    stored = Bootstrap.load(configured.home).ldap
    assert stored.uris == (slapd.uri, "ldap://127.0.0.1:1") and stored.timeout == 3.0
    assert stored.bind_password == SERVICE_PASSWORD and stored.user_filter.startswith("(&(objectClass")
    assert "holds settings this appliance is not using yet" in client.get("/console/ldap").get_data(as_text=True)

"""LDAP against a real slapd: sign-in (search, then bind as the user), accounts made from the directory,
groups that make site administrators and organization members, the sync that suspends who left, TLS,
failover, and a directory that is down, slow or given the wrong bind password."""
from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time

import pytest
from click.testing import CliRunner

from appliance import create_app
from appliance.accounts import identity
from appliance.accounts.ldap import DirectoryUnavailable, LdapDirectory
from appliance.accounts.service import add_member, create_organization, create_user, find_account
from appliance.auth.tokens import find_token, issue_token
from appliance.cli import main
from appliance.jobs.leases import holder_name
from appliance.jobs.scheduler import find_job, run_job
from appliance.models import AuditEvent, OrganizationMember
from appliance.models.jobs import JobStatus
from appliance.settings import LdapConfig
from tests.clients.conftest import require_client
from tests.support.live import free_port
from tests.support.slapd import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Person, Slapd, group_dn
from tests.support.web import sign_in as sign_in_page

CAROL = Person("carol", "Carol Jones", "carol@example.com", "carol-pw")
DAVE = Person("dave", "Dave Smith", "dave@example.com", "dave-pw")
ERIN = Person("erin", "Erin Brown", "erin@example.com", "erin-pw")


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    require_client("slapd")
    require_client("ldapadd")
    directory = Slapd(tmp_path_factory.mktemp("slapd")).start()
    for person in (CAROL, DAVE, ERIN):
        directory.add_person(person)
    directory.add_group("admins", [CAROL])
    directory.add_group("acme", [DAVE, CAROL])
    yield directory
    directory.stop()


def config_for(slapd: Slapd, **changes) -> LdapConfig:
    config = LdapConfig(uris=(slapd.uri,), user_base=PEOPLE, bind_dn=SERVICE_DN, bind_password=SERVICE_PASSWORD,
                        admin_group=group_dn("admins"), organizations={group_dn("acme"): "acme"}, timeout=2.0)
    return dataclasses.replace(config, **changes)


@pytest.fixture
def directory(slapd, app):
    create_organization("acme", create_user("founder"))
    return LdapDirectory(config_for(slapd))


# ---- signing in ------------------------------------------------------------------------------------


def test_the_first_sign_in_makes_the_account_from_the_directory(directory):
    account = directory.authenticate("dave", "dave-pw")
    assert account is not None
    stored = find_account("dave")
    assert (stored.login, stored.name, stored.email, stored.identity_source, stored.directory_dn) == (
        "dave", "Dave Smith", "dave@example.com", "ldap", DAVE.dn)
    assert stored.password_hash is None  # the directory keeps the password
    assert not stored.site_admin
    assert OrganizationMember.get_or_none(organization=find_account("acme"), user=stored).role == "member"

    assert directory.authenticate("DAVE", "dave-pw").id == stored.id  # logins are case-insensitive
    carol = directory.authenticate("carol", "carol-pw")
    assert carol.site_admin  # the admin group


@pytest.mark.parametrize("login, password", [
    ("dave", "wrong"),
    ("dave", ""),  # an empty password is an anonymous bind, which slapd accepts
    ("nobody", "dave-pw"),
    ("*)(uid=*", "dave-pw"),  # an injection finds nobody: the login is escaped in the filter
    ("*", "dave-pw"),
    ("dave)(|(uid=*", "dave-pw"),
])
def test_wrong_passwords_unknown_users_and_injections_get_nobody(directory, login, password):
    assert directory.authenticate(login, password) is None
    assert find_account("dave") is None


def test_a_built_in_account_with_a_password_is_not_taken_over_by_the_directory(directory):
    create_user("erin", password="built-in-pw")
    assert directory.authenticate("erin", "erin-pw") is None
    assert find_account("erin").identity_source is None


def test_ldaps_and_start_tls_with_the_ca_file_and_a_refused_certificate(slapd, app):
    ca = str(slapd.ca.cert)
    assert LdapDirectory(config_for(slapd, uris=(slapd.ldaps_uri,), ca_file=ca)).authenticate("erin", "erin-pw")
    assert LdapDirectory(config_for(slapd, start_tls=True, ca_file=ca)).authenticate("erin", "erin-pw")
    untrusted = LdapDirectory(config_for(slapd, uris=(slapd.ldaps_uri,)))  # the system CAs do not know it
    with pytest.raises(DirectoryUnavailable, match="does not answer"):
        untrusted.authenticate("erin", "erin-pw")


def test_failover_to_the_next_uri(slapd, app):
    dead = f"ldap://127.0.0.1:{free_port()}"
    directory = LdapDirectory(config_for(slapd, uris=(dead, slapd.uri)))
    assert directory.authenticate("erin", "erin-pw") is not None


@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers: a directory that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"ldap://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_directory_down_or_slow_is_unavailable_within_the_timeout(slapd, app, silent_server):
    down = LdapDirectory(config_for(slapd, uris=(f"ldap://127.0.0.1:{free_port()}",)))
    with pytest.raises(DirectoryUnavailable, match="the directory does not answer"):
        down.authenticate("dave", "dave-pw")

    slow = LdapDirectory(config_for(slapd, uris=(silent_server,), timeout=1.0))
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable):
        slow.authenticate("dave", "dave-pw")
    assert time.monotonic() - started < 5


def test_a_wrong_bind_password_is_named(slapd, app):
    directory = LdapDirectory(config_for(slapd, bind_password="not-it"))
    with pytest.raises(DirectoryUnavailable, match=f"refused the appliance's bind DN {SERVICE_DN}.*bind_password"):
        directory.authenticate("dave", "dave-pw")


# ---- the CLI -----------------------------------------------------------------------------------------


def with_ldap(app, config: LdapConfig):
    """Write [ldap] into the app's appliance.toml, for the CLI to read."""
    bootstrap = dataclasses.replace(app.config["BOOTSTRAP"], ldap=config)
    bootstrap.write()
    return bootstrap


def run(bootstrap, *args):
    return CliRunner().invoke(main, ["--home", str(bootstrap.home), *args])


def test_ldap_check_says_what_it_found_and_names_a_wrong_bind_password(slapd, app):
    create_organization("acme", create_user("founder"))
    bootstrap = with_ldap(app, config_for(slapd))
    checked = run(bootstrap, "ldap", "check")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.splitlines() == [
        f"bound to 127.0.0.1:{slapd.port} as {SERVICE_DN}",
        f"3 users under {PEOPLE} match (uid={{login}}): carol, dave, erin",
        f"group {group_dn('admins')} (site administrators): 1 members",
        f"group {group_dn('acme')} (organization acme): 2 members",
    ]

    bootstrap = with_ldap(app, config_for(slapd, bind_password="not-it"))
    refused = run(bootstrap, "ldap", "check")
    assert refused.exit_code == 1
    assert f"refused the appliance's bind DN {SERVICE_DN} (invalidCredentials)" in refused.stderr


def test_tokens_create_for_a_directory_user_who_never_signed_in(slapd, app):
    bootstrap = with_ldap(app, config_for(slapd))
    made = run(bootstrap, "tokens", "create", "erin", "--scopes", "read:packages")
    assert made.exit_code == 0, made.output
    token = find_token(made.stdout.strip())
    assert token.user.login == "erin" and token.user.identity_source == "ldap"

    unknown = run(bootstrap, "tokens", "create", "nobody", "--scopes", "read:packages")
    assert unknown.exit_code == 1
    assert "no user named 'nobody', here or in the directory" in unknown.stderr


# ---- the sync ------------------------------------------------------------------------------------------


def test_sync_follows_the_directory_and_suspends_who_left(slapd, app, tmp_path):
    acme = create_organization("acme", create_user("founder"))
    directory = LdapDirectory(config_for(slapd))
    extra = slapd.add_person(Person("frank", "Frank Green", "frank@example.com", "frank-pw"))
    try:
        for person in (CAROL, DAVE, extra):
            assert directory.authenticate(person.login, person.password) is not None
        _, frank_token = issue_token(find_account("frank"), ["read:packages"])
        _, dave_token = issue_token(find_account("dave"), ["read:packages"])
        local = create_user("local-user")
        add_member(acme, find_account("carol"), "owner")  # an owner made by a person stays one

        slapd.replace(DAVE.dn, "mail", "dave@new.example.com")
        slapd.set_members("admins", [DAVE])
        slapd.set_members("acme", [])
        slapd.delete(extra.dn)

        bootstrap = with_ldap(app, config_for(slapd))
        synced = run(bootstrap, "ldap", "sync")
        assert synced.exit_code == 0, synced.output
        assert synced.stdout.startswith("ldap_sync: 3 directory users; updated: dave; suspended: frank; "
                                        "made site admin: dave; no longer site admin: carol; "
                                        "added to organizations: none; removed from organizations: dave from acme")

        assert find_account("frank").suspended and find_token(frank_token) is None  # at once
        dave = find_account("dave")
        assert (dave.email, dave.site_admin, dave.suspended) == ("dave@new.example.com", True, False)
        assert find_token(dave_token) is not None
        assert not find_account("carol").site_admin
        assert OrganizationMember.get(organization=acme, user=find_account("carol")).role == "owner"
        assert OrganizationMember.get_or_none(organization=acme, user=dave) is None
        assert not find_account(local.login).suspended  # built-in accounts are not the directory's

        status = JobStatus.get_by_id("ldap_sync")
        assert (status.runs, status.failures, status.last_outcome) == (1, 0, "succeeded")
    finally:
        slapd.set_members("admins", [CAROL])
        slapd.set_members("acme", [DAVE, CAROL])
        slapd.replace(DAVE.dn, "mail", DAVE.email)


def test_a_sync_that_cannot_reach_the_directory_fails_and_suspends_nobody(slapd, app):
    directory = LdapDirectory(config_for(slapd))
    assert directory.authenticate("erin", "erin-pw") is not None
    down = dataclasses.replace(app.config["BOOTSTRAP"],
                               ldap=config_for(slapd, uris=(f"ldap://127.0.0.1:{free_port()}",)))
    with pytest.raises(Exception, match="the directory does not answer"):
        run_job(create_app(down), find_job(down, "ldap_sync"), holder_name())
    assert not find_account("erin").suspended
    assert JobStatus.get_by_id("ldap_sync").last_outcome == "failed"

    empty = dataclasses.replace(app.config["BOOTSTRAP"], ldap=config_for(slapd, user_base=f"ou=nobody,{PEOPLE}"))
    with pytest.raises(Exception, match="returned no users"):
        run_job(create_app(empty), find_job(empty, "ldap_sync"), holder_name())
    assert not find_account("erin").suspended


# ---- the sign-in page ------------------------------------------------------------------------------


@pytest.fixture
def pages(slapd, bootstrap):
    """An app with [ldap] (and no application context held across requests, as pages need)."""
    def make(config: LdapConfig):
        app = create_app(dataclasses.replace(bootstrap, ldap=config))
        app.config["TESTING"] = True
        return app.test_client()

    yield make
    identity.unregister_identity_source("ldap")


def test_signing_in_to_the_pages_with_a_directory_password(slapd, pages):
    client = pages(config_for(slapd))
    wrong = sign_in_page(client, "carol", "not-her-password")
    assert wrong.status_code == 401 and "wrong login or password" in wrong.get_data(as_text=True)
    signed_in = sign_in_page(client, "carol", CAROL.password, next_path="/settings/tokens")
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/settings/tokens"
    assert client.get("/settings/tokens").status_code == 200
    carol = find_account("carol")
    assert carol.identity_source == "ldap" and carol.site_admin
    event = AuditEvent.select().where(AuditEvent.action == "user.sign_in").get()
    assert json.loads(event.data) == {"source": "ldap"}


def test_a_directory_that_is_down_refuses_its_users_clearly_and_lets_the_break_glass_admin_in(slapd, pages,
                                                                                             silent_server):
    create_user("root", password="root-password", site_admin=True)
    for uri in (f"ldap://127.0.0.1:{free_port()}", silent_server):
        client = pages(config_for(slapd, uris=(uri,), timeout=1.0))
        refused = sign_in_page(client, "carol", CAROL.password)
        assert refused.status_code == 401  # never a 500
        assert "cannot check this password now: the directory does not answer" in refused.get_data(as_text=True)

        admin = sign_in_page(client, "root", "root-password")
        assert admin.status_code == 302
    events = list(AuditEvent.select().where(AuditEvent.action == "user.sign_in"))
    assert [json.loads(e.data) for e in events] == [{"source": "built-in", "break_glass": True}] * 2

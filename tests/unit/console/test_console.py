"""The console's pages do what they say, through the same operations as the CLI, and leave audit entries."""
from __future__ import annotations

import csv
import io

import pytest

from appliance.accounts.service import get_user
from appliance.auth.tokens import issue_token
from appliance.jobs.scheduler import storage_usage
from appliance.models.accounts import Account, OrganizationMember
from appliance.models.audit import AuditEvent
from appliance.models.packages import Blob, Package, PackageFile, PackageVersion
from appliance.models.repositories import Collaborator, Repository
from appliance.settings import SPECS, RuntimeSettings, store_setting
from tests.support.web import post_form, sign_in


@pytest.fixture
def admin(client, people):
    sign_in(client, "root")
    return client


def flashes(response) -> str:
    return response.get_data(as_text=True)


def last_audit(action: str) -> AuditEvent:
    return AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id.desc()).get()


# ---- settings ----------------------------------------------------------------------------------------


def test_settings_page_lists_every_setting_with_help_value_and_default(admin, app):
    html = admin.get("/console/settings").get_data(as_text=True)
    with app.app_context():
        for key in SPECS:
            assert f'data-setting="{key}"' in html, key
    assert "the appliance&#39;s host name" in html


def test_a_setting_changes_for_every_worker_and_is_audited(admin, app):
    response = post_form(admin, "/console/settings", "/console/settings/hostname", value="Packages.Example.com")
    assert response.status_code == 303
    page = admin.get(response.location).get_data(as_text=True)
    assert "hostname is now &#39;packages.example.com&#39;" in page
    with app.app_context():
        assert RuntimeSettings.load()["hostname"] == "packages.example.com"
        entry = last_audit("setting.change")
        assert (entry.actor_login, entry.target, entry.remote_addr) == ("root", "setting:hostname", "127.0.0.1")
        assert '"after": "packages.example.com"' in entry.data


@pytest.mark.parametrize(("key", "value", "phrase"), [
    ("hostname", "bad_host!.example.com", "expected a host name such as"),
    ("hostname", "example.com:8443", "without scheme or port"),
    ("retention.deleted_days", "-1", "zero or more"),
    ("edition", "team", "expected one of"),
    ("support_contact", "javascript:alert(1)", "URL or an e-mail address"),
])
def test_invalid_values_are_refused_with_a_message_and_change_nothing(admin, app, key, value, phrase):
    with app.app_context():
        before = dict(RuntimeSettings.load().items())
    response = post_form(admin, "/console/settings", f"/console/settings/{key}", value=value)
    page = admin.get(response.location).get_data(as_text=True)
    assert f"{key} was not changed" in page and phrase in page
    with app.app_context():
        assert dict(RuntimeSettings.load().items()) == before
        assert AuditEvent.select().where(AuditEvent.action == "setting.change").count() == 0


def test_turning_isolation_off_warns_first_that_docker_stops(admin, app):
    response = post_form(admin, "/console/settings", "/console/settings/subdomain_isolation", value="false")
    assert response.status_code == 409
    warning = response.get_data(as_text=True)
    assert "the Docker registry stops" in warning and "0 images become unreachable" in warning
    with app.app_context():
        assert RuntimeSettings.load()["subdomain_isolation"] is True
    confirmed = post_form(admin, "/console/settings", "/console/settings/subdomain_isolation", value="false",
                          confirm="yes")
    assert confirmed.status_code == 303
    with app.app_context():
        assert RuntimeSettings.load()["subdomain_isolation"] is False


def test_a_format_switched_off_answers_its_clients_with_whom_to_ask(admin, app, client):
    post_form(admin, "/console/settings", "/console/settings/support_contact", value="help@example.com")
    post_form(admin, "/console/settings", "/console/settings/formats.npm.enabled", value="false")
    answer = client.get("/_registry/npm/@acme%2fwidget")
    assert answer.status_code == 403
    message = answer.json["error"]
    assert "the npm registry is switched off on this appliance by its site administrators" in message
    assert "help@example.com" in message and answer.headers["X-Request-Id"] in message
    assert client.get("/_registry/rubygems/acme/api/v1/dependencies").status_code != 403


# ---- users -------------------------------------------------------------------------------------------


def test_create_find_suspend_and_unsuspend_a_user(admin, app):
    created = post_form(admin, "/console/users", "/console/users", login="carol", email="carol@example.com")
    assert created.status_code == 303
    page = admin.get(created.location).get_data(as_text=True)
    assert "Their password, shown once:" in page
    assert "carol" in admin.get("/console/users?q=CAROL@exa").get_data(as_text=True)
    assert "carol" not in admin.get("/console/users?q=ursula").get_data(as_text=True)
    with app.app_context():
        _, secret = issue_token(get_user("carol"), ["read:packages"])
    npm_user = {"Authorization": f"Bearer {secret}"}
    assert admin.get("/_registry/npm/-/whoami", headers=npm_user).status_code == 200

    post_form(admin, "/console/users/carol", "/console/users/carol/suspend")
    assert admin.get("/_registry/npm/-/whoami", headers=npm_user).status_code == 401  # at once
    with app.app_context():
        assert get_user("carol").suspended and last_audit("user.suspend").target == "user:carol"
    post_form(admin, "/console/users/carol", "/console/users/carol/unsuspend")
    assert admin.get("/_registry/npm/-/whoami", headers=npm_user).status_code == 200


def test_a_suspended_user_is_signed_out_at_once(app, people, admin):
    other = app.test_client()
    sign_in(other, "ursula")
    assert other.get("/settings/tokens").status_code == 200
    post_form(admin, "/console/users/ursula", "/console/users/ursula/suspend")
    assert other.get("/settings/tokens").status_code == 302  # back to sign in


def test_promote_demote_and_the_last_site_admin(admin, app):
    post_form(admin, "/console/users/root", "/console/users/root/demote")
    with app.app_context():
        assert get_user("root").site_admin  # the last one stays
    page = admin.get("/console/users/root").get_data(as_text=True)
    assert "root is the last site administrator" in page
    post_form(admin, "/console/users/ursula", "/console/users/ursula/promote")
    post_form(admin, "/console/users/root", "/console/users/root/demote")
    with app.app_context():
        assert get_user("ursula").site_admin and not get_user("root").site_admin
    assert admin.get("/console").status_code == 404  # root is a user like the others now


def test_reset_password(admin, app):
    other = app.test_client()
    sign_in(other, "ursula")
    response = post_form(admin, "/console/users/ursula", "/console/users/ursula/reset-password")
    page = admin.get(response.location).get_data(as_text=True)
    assert "ursula&#39;s new password, shown once:" in page
    assert other.get("/settings/tokens").status_code == 302
    assert sign_in(app.test_client(), "ursula").status_code == 401  # the old password no longer works


# ---- organizations and repositories --------------------------------------------------------------------


def test_organizations_members_repositories_and_collaborators(admin, app):
    post_form(admin, "/console/orgs", "/console/orgs", name="initech", owner="ursula")
    post_form(admin, "/console/orgs/initech", "/console/orgs/initech/members", user="olivia", role="member")
    post_form(admin, "/console/repos", "/console/repos", full_name="initech/tps", visibility="internal")
    post_form(admin, "/console/repos/initech/tps", "/console/repos/initech/tps/collaborators", user="root",
              role="write")
    post_form(admin, "/console/repos/initech/tps", "/console/repos/initech/tps/visibility", visibility="private")
    refused = post_form(admin, "/console/orgs/initech", "/console/orgs/initech/members", user="ursula",
                        role="remove")
    assert "last owner of initech" in admin.get(refused.location).get_data(as_text=True)
    with app.app_context():
        repo = Repository.get(Repository.name == "tps")
        assert repo.visibility == "private"
        assert Collaborator.get(Collaborator.repository == repo).role == "write"
        assert OrganizationMember.select().join(Account, on=OrganizationMember.organization == Account.id).where(
            Account.login == "initech").count() == 2
        actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert {"org.create", "org.set_member", "repo.create", "repo.grant", "repo.visibility"} <= set(actions)


def test_visibility_choices_follow_the_edition(admin, app):
    with app.app_context():
        store_setting("edition", "ae")
    page = admin.get("/console/repos").get_data(as_text=True)
    assert "<option>public</option>" not in page and "<option>internal</option>" in page
    refused = post_form(admin, "/console/repos", "/console/repos", full_name="acme/open", visibility="public")
    assert "the ae edition offers private, internal repositories, not public" in admin.get(
        refused.location).get_data(as_text=True)
    with app.app_context():
        assert not Repository.select().where(Repository.name == "open").exists()


def test_switching_edition_deletes_nothing_and_lists_what_it_forbids(admin, app):
    post_form(admin, "/console/repos", "/console/repos", full_name="acme/open", visibility="public")
    post_form(admin, "/console/repos", "/console/repos", full_name="acme/inside", visibility="internal")
    switched = post_form(admin, "/console/settings", "/console/settings/edition", value="cloud")
    page = admin.get(switched.location).get_data(as_text=True)
    assert "acme/inside is internal: the cloud edition offers public, private" in page
    overview = admin.get("/console").get_data(as_text=True)
    assert "acme/inside is internal" in overview and "acme/open" not in overview
    with app.app_context():
        assert Repository.select().where(Repository.name.in_(["open", "inside"])).count() == 2


# ---- maintenance -----------------------------------------------------------------------------------------


def test_maintenance_mode_closes_registries_pages_and_api_but_not_the_console(admin, app, client):
    post_form(admin, "/console/maintenance", "/console/maintenance", mode="on", message="Upgrading to 3.1",
              starts_at="")
    anonymous = app.test_client()
    npm = anonymous.get("/_registry/npm/@acme%2fwidget")
    assert npm.status_code == 503 and npm.headers["Retry-After"] == "300"
    assert npm.json["error"].startswith("Upgrading to 3.1 (maintenance mode; ask the site administrators")
    docker = {"Host": "docker.localhost"}
    oci = anonymous.get("/v2/acme/widgets/app/manifests/v1", headers=docker)
    assert oci.status_code == 503 and oci.json["errors"][0]["code"] == "UNAVAILABLE"
    assert "Upgrading to 3.1" in oci.json["errors"][0]["message"] and "Upgrading to 3.1" in oci.status
    # the ping and the token come first and show only a status: the message waits for the next request
    assert anonymous.get("/v2/", headers=docker).status_code == 401
    maven = anonymous.get("/_registry/maven/acme/widgets/com/acme/w/maven-metadata.xml")
    assert maven.status_code == 503 and "Upgrading to 3.1" in maven.status
    gem = anonymous.get("/_registry/rubygems/acme/versions")
    assert gem.status_code == 503 and gem.get_data(as_text=True).startswith("Upgrading to 3.1")
    nuget = anonymous.get("/_registry/nuget/acme/index.json")
    assert nuget.status_code == 503 and "Upgrading to 3.1" in nuget.status
    page = anonymous.get("/login?next=/")
    assert page.status_code == 200  # signing in stays open, so an administrator can end it
    home = anonymous.get("/")
    assert home.status_code == 503 and "Upgrading to 3.1" in home.get_data(as_text=True)
    api = anonymous.get("/api/v3/meta")
    assert api.status_code == 503 and "Upgrading to 3.1" in api.json["message"]
    assert anonymous.get("/_health").status_code == 200
    assert admin.get("/console/maintenance").status_code == 200
    post_form(admin, "/console/maintenance", "/console/maintenance", mode="off")
    assert anonymous.get("/_registry/npm/@acme%2fwidget").status_code in (401, 404)
    with app.app_context():
        assert [e.action for e in AuditEvent.select().where(AuditEvent.action.startswith("maintenance"))] == [
            "maintenance.on", "maintenance.off"]


def test_scheduled_maintenance_shows_a_notice_until_it_begins(admin, app):
    response = post_form(admin, "/console/maintenance", "/console/maintenance", mode="on",
                         message="Database upgrade", starts_at="2999-01-01T22:00")
    assert response.status_code == 303
    page = admin.get("/console/maintenance").get_data(as_text=True)
    assert "scheduled" in page and "Maintenance begins at 2999-01-01 22:00 UTC: Database upgrade" in page
    assert app.test_client().get("/_registry/npm/-/ping").status_code == 200
    bad = post_form(admin, "/console/maintenance", "/console/maintenance", mode="on", message="x",
                    starts_at="tomorrow")
    assert "expected a UTC time" in admin.get(bad.location).get_data(as_text=True)


# ---- jobs, packages, audit log -------------------------------------------------------------------------


def test_run_a_job_now_and_see_what_it_did(admin, app):
    before = admin.get("/console/jobs").get_data(as_text=True)
    assert 'data-job="storage_cleanup"' in before and "never run" in before
    ran = post_form(admin, "/console/jobs", "/console/jobs/storage_cleanup/run")
    page = admin.get(ran.location).get_data(as_text=True)
    assert "storage_cleanup: purged 0 deleted packages" in page
    assert "succeeded" in page and "UTC" in page
    assert last_audit("job.run").target == "job:storage_cleanup"
    assert post_form(admin, "/console/jobs", "/console/jobs/no_such_job/run").status_code == 404


def test_packages_and_storage_page_shows_a_chart(admin, app):
    page = admin.get("/console/packages?format=npm&q=x").get_data(as_text=True)
    assert "deduplication saves" in page and "Nothing stored yet." in page and "Not counted yet" in page
    with app.app_context():
        acme, ursula = Account.get(Account.login == "acme"), Account.get(Account.login == "ursula")
        shared = Blob.create(sha256="a" * 64, size=3 * 1024**2)
        for owner, fmt, name in ((acme, "npm", "@acme/widget"), (ursula, "maven", "com.u:lib")):
            repository = Repository.create(owner=owner, name=name[-6:], lower_name=name[-6:].lower())
            package = Package.create(owner=owner, repository=repository, format=fmt, name=name,
                                     lower_name=name.lower())
            version = PackageVersion.create(package=package, version="1.0", lower_version="1.0")
            PackageFile.create(version=version, name="f", lower_name="f", blob=shared)
        storage_usage()
    page = admin.get("/console/packages").get_data(as_text=True)
    assert "Counted by the storage_usage job at" in page
    # one 3 MB blob behind two files: 6 MB of files, 3 MB stored
    assert '<strong data-testid="dedup-saving">3.0 MB</strong>' in page
    assert page.count("<svg") == 2 and "@acme/widget" in page and "com.u:lib" in page
    table = page[page.index('data-testid="storage-table"'):]
    assert "<td>acme</td><td>npm</td>" in table and "<td>ursula</td><td>maven</td>" in table
    assert "npm" in admin.get("/console/packages?format=maven").get_data(as_text=True).split("<h2>Packages")[0]
    assert "@acme/widget" not in admin.get("/console/packages?format=maven").get_data(as_text=True).split(
        "<h2>Packages")[1]


def test_audit_log_filters_and_exports_csv(admin, app):
    post_form(admin, "/console/users/ursula", "/console/users/ursula/suspend")
    post_form(admin, "/console/settings", "/console/settings/anonymous_read", value="false")
    with app.app_context():
        AuditEvent.create(actor_login="=cmd|' /C calc'!A0", action="user.sign_in", target="user:x")
    page = admin.get("/console/audit?action=user.suspend").get_data(as_text=True)
    assert "user:ursula" in page and "setting:anonymous_read" not in page
    page = admin.get("/console/audit?actor=root&target=setting").get_data(as_text=True)
    assert "setting:anonymous_read" in page and "user:ursula" not in page
    export = admin.get("/console/audit.csv?actor=root")
    assert export.mimetype == "text/csv" and "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert rows[0] == ["id", "created_at", "actor", "action", "target", "address", "data"]
    assert {row[3] for row in rows[1:]} >= {"user.suspend", "setting.change"}
    everything = admin.get("/console/audit.csv").get_data(as_text=True)
    assert "'=cmd" in everything  # a formula is kept text for spreadsheets


def test_user_content_is_never_markup(admin, app):
    with app.app_context():
        AuditEvent.create(actor_login="<script>alert(1)</script>", action="x", target="<img src=x onerror=alert(1)>")
    page = admin.get("/console/audit").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page


# ---- editions ----------------------------------------------------------------------------------------------


def test_docker_follows_the_edition_when_isolation_is_off(app, client):
    docker = {"Host": "docker.localhost"}
    with app.app_context():
        store_setting("subdomain_isolation", False)
    # enterprise-server: Docker needs isolation; the ping answers (clients print only its status), the rest
    # says why.
    refused = client.get("/v2/alice/libs/app/tags/list", headers=docker)
    assert refused.status_code == 404 and "needs subdomain isolation" in refused.get_data(as_text=True)
    with app.app_context():
        store_setting("edition", "cloud")
    assert client.get("/v2/", headers=docker).status_code == 401  # cloud: always on docker.HOSTNAME
    assert client.get("/v2/alice/libs/app/tags/list", headers=docker).status_code == 401
    assert client.get("/_registry/npm/-/ping", headers={"Host": "npm.localhost"}).status_code == 404


@pytest.mark.parametrize(("edition", "configured", "in_force"), [
    ("enterprise-server", False, False), ("enterprise-server", True, True),
    ("ae", True, False), ("cloud", False, True)])
def test_anonymous_install_follows_the_edition(app, edition, configured, in_force):
    with app.app_context():
        store_setting("edition", edition)
        store_setting("anonymous_read", configured)
        settings = RuntimeSettings.load()
        assert settings["anonymous_read"] is in_force and settings.configured("anonymous_read") is configured


def test_the_support_line_follows_the_edition(app, client):
    with app.app_context():
        store_setting("support_contact", "admins@example.com")
    page = client.get("/login").get_data(as_text=True)
    assert "mailto:admins@example.com" in page and "request id" in page
    with app.app_context():
        store_setting("edition", "cloud")
        store_setting("support_url", "https://support.vendor.example/contact")
        store_setting("feedback_url", "https://vendor.example/feedback")
        store_setting("formats.npm.enabled", False)
    page = client.get("/login").get_data(as_text=True)
    assert "https://support.vendor.example/contact" in page and "https://vendor.example/feedback" in page
    assert "admins@example.com" not in page
    answer = client.get("/_registry/npm/-/ping")
    assert "contact support at https://support.vendor.example/contact" in answer.json["error"]

"""The management console in a real browser (Playwright driving Debian's Chromium) against the appliance
under gunicorn, with the real npm: a site admin signs in, turns subdomain isolation off and is warned first
that Docker stops, switches npm off and npm prints the error that names whom to ask, suspends a user whose
npm token then fails, runs the cleanup job and reads what it did, and filters the audit log. Screenshots of
each step land in the run's screenshots directory (tests/support/browser.py)."""
from __future__ import annotations

import pytest

from tests.clients.conftest import require_client
from tests.support.live import LiveAppliance
from tests.support.npm import Npm


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_client("npm")
    live = LiveAppliance(tmp_path_factory.mktemp("console") / "home")
    live.set("hostname", "127.0.0.1")
    live.set("subdomain_isolation", True)
    live.set("support_contact", "packages-admins@example.com")
    live.user("root", site_admin=True)
    live.user("carol")
    live.repo("carol/hello", "private")
    live.start()
    yield live
    live.stop()


def carol_npm(live, workdir, token: str) -> Npm:
    return Npm(workdir, f"{live.origin}/_registry/npm/", "carol", token)


def save_setting(admin, key: str, value: str) -> None:
    row = admin.page.locator(f"tr[data-setting='{key}']")
    field = row.locator("select, input[name=value]").first
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)
    row.get_by_role("button", name="Save").click()
    admin.page.wait_for_load_state()


def test_an_admin_runs_the_appliance_from_the_console(site, browser_session, tmp_path):
    token = site.token("carol")
    author = carol_npm(site, tmp_path / "author", token)
    author.write_package("@carol/hello", "1.0.0", repository="carol/hello")
    assert author.run("publish").returncode == 0

    outsider = browser_session(site)
    outsider.sign_in("carol")
    assert outsider.goto("/console/settings").status == 404

    admin = browser_session(site)
    admin.sign_in("root")
    assert admin.goto("/console").status == 200
    admin.shot("overview")

    # Subdomain isolation off: the console says first what stops, and changes nothing until confirmed.
    admin.goto("/console/settings")
    save_setting(admin, "subdomain_isolation", "false")
    warning = admin.text("confirm-warning")
    assert "the Docker registry stops" in warning and "images become unreachable" in warning
    admin.shot("isolation-warning")
    admin.page.get_by_role("button", name="Change it anyway").click()
    admin.page.wait_for_load_state()
    assert admin.page.locator("tr[data-setting='subdomain_isolation'] [data-testid=value]").inner_text() == "false"

    # npm switched off: the real npm prints why and whom to ask, not a 404.
    save_setting(admin, "formats.npm.enabled", "false")
    assert "formats.npm.enabled is now False" in admin.text("flash-ok")
    admin.shot("npm-switched-off")
    viewed = carol_npm(site, tmp_path / "viewer", token).run("view", "@carol/hello", "version")
    assert viewed.returncode != 0 and "403 FORBIDDEN" in viewed.output
    assert "the npm registry is switched off on this appliance by its site administrators" in viewed.output
    assert "packages-admins@example.com" in viewed.output
    save_setting(admin, "formats.npm.enabled", "true")
    viewed = carol_npm(site, tmp_path / "viewer", token).run("view", "@carol/hello", "version")
    assert (viewed.returncode, viewed.stdout.strip()) == (0, "1.0.0"), viewed.output

    # Suspending carol stops her token (on every worker within the second) and her browser session.
    admin.goto("/console/users?q=car")
    admin.page.get_by_role("link", name="carol").click()
    admin.page.locator("button[data-action=suspend]").click()
    admin.page.wait_for_load_state()
    assert admin.text("suspended") == "suspended"
    admin.shot("carol-suspended")
    admin.page.wait_for_timeout(1100)  # past what other workers may remember of her token
    refused = carol_npm(site, tmp_path / "suspended", token).run("view", "@carol/hello", "version")
    assert refused.returncode != 0 and "401" in refused.output, refused.output
    assert outsider.goto("/settings/tokens").url.endswith("/login?next=/settings/tokens")

    # The cleanup job, run now, and what it did.
    admin.goto("/console/jobs")
    admin.page.locator("button[data-run=storage_cleanup]").click()
    admin.page.wait_for_load_state()
    assert "storage_cleanup: purged 0 deleted packages" in admin.text("flash-ok")
    summary = admin.page.locator("tr[data-job=storage_cleanup] [data-testid=job-summary]").inner_text()
    assert summary.startswith("purged 0 deleted packages")
    admin.shot("jobs")

    # The audit log, filtered by action and by target.
    admin.goto("/console/audit")
    admin.page.fill("input[name=action]", "user.suspend")
    admin.page.get_by_role("button", name="Filter").click()
    admin.page.wait_for_load_state()
    table = admin.text("audit-table")
    assert "user:carol" in table and "root" in table and "setting.change" not in table
    admin.shot("audit-filtered")
    admin.goto("/console/audit?target=setting:formats.npm")
    assert admin.text("audit-table").count("setting.change") == 2
    assert not admin.dialogs and not admin.foreign_requests

"""The pages in a real browser (Playwright driving Debian's Chromium) against the appliance under
gunicorn, with the real npm: sign in, make a token in the page and publish with it, find the package
from the dashboard, read its README and install snippet, watch its download count move after
`npm install`, delete a version and restore it, sign out, and what an outsider and a hostile README get.
Screenshots of each page land in the run's screenshots directory (tests/support/browser.py)."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.clients.conftest import require_client
from tests.support.npm import Npm

HOSTILE_README = """# Hostile readme

<script>alert("script tag")</script>

<img src="http://evil.example/pixel.png" onerror="alert('onerror')">

<img src="x" onerror="alert('onerror on a broken image')">

<a href="javascript:alert('javascript link')" id="js-link">a javascript: link</a>

[markdown javascript link](javascript:alert('markdown link'))

<iframe src="http://evil.example/frame"></iframe>

<div style="background-image:url(http://evil.example/style.png)" onmouseover="alert('hover')">hover me</div>

![protocol relative](//evil.example/p.png)

<svg><script>alert("svg script")</script></svg>

<object data="http://evil.example/x.swf"></object>

<link rel="stylesheet" href="http://evil.example/x.css">

<form action="http://evil.example/steal"><button id="steal">send</button></form>
"""


@pytest.fixture(scope="module", autouse=True)
def _clients_installed():
    require_client("npm")


@pytest.fixture(scope="module")
def people(live):
    live.user("alice")
    live.user("bob")
    live.repo("alice/hello", "private")
    live.repo("alice/versions", "private")
    live.repo("alice/hostile", "public")
    live.set("anonymous_read", True)  # the hostile README is read signed out, where it would do most harm
    return live


def registry(live) -> str:
    return f"{live.origin}/_registry/npm/"


def page_path(name: str, suffix: str = "") -> str:
    return f"/users/alice/packages/npm/package/{quote(name, safe='@')}{suffix}"


def npm_publish(live, workdir, token: str, name: str, version: str, readme: str | None = None) -> Npm:
    npm = Npm(workdir, registry(live), "alice", token)
    npm.write_package(name, version, description=f"{name} for the browser tests", license="MIT",
                      repository={"type": "git", "url": f"https://git.example/alice/{name.split('/')[-1]}.git"})
    if readme is not None:
        (npm.workdir / "README.md").write_text(readme)
    published = npm.run("publish")
    assert published.returncode == 0, published.output
    return npm


def test_sign_in_make_a_token_publish_with_npm_find_the_package_and_see_downloads_move(
        people, browser_session, tmp_path):
    live = people
    alice = browser_session(live)
    alice.goto("/")
    alice.shot("dashboard-signed-out")
    alice.page.get_by_test_id("dashboard-sign-in").click()
    alice.sign_in("alice")
    assert alice.signed_in_as() == "alice"
    # Nothing published yet: the dashboard says how to publish, starting from a token.
    assert alice.page.get_by_test_id("registry-npm").inner_text() == registry(live)
    alice.shot("dashboard-signed-in")
    alice.page.get_by_test_id("first-publish-tokens").click()
    alice.page.wait_for_url("**/settings/tokens")
    alice.page.fill("input[name=note]", "browser test publishing")
    alice.page.check("input[name=scopes][value='write:packages']")
    alice.page.click("form[action='/settings/tokens'] button[type=submit]")
    token = alice.page.locator("#new-token-secret").inner_text().strip()
    assert token.startswith("apt_")
    alice.shot("token-created")

    npm_publish(live, tmp_path / "author", token, "@alice/hello", "1.0.0")

    alice.goto("/")
    alice.page.get_by_test_id("dashboard-search").fill("hell")
    alice.page.get_by_test_id("dashboard-search").press("Enter")
    alice.page.wait_for_load_state()
    assert "/search?q=hell" in alice.page.url
    alice.shot("search-results")
    alice.page.get_by_role("link", name="@alice/hello").click()
    alice.page.wait_for_load_state()
    assert alice.text("package-name") == "@alice/hello"
    assert "Version 1.0.0." in alice.text("readme")
    config = alice.text("snippet-install-config")
    assert config == f"@alice:registry={registry(live)}\n//127.0.0.1:{live.port}/_registry/npm/:_authToken=TOKEN"
    assert alice.text("snippet-install-command") == "npm install @alice/hello@1.0.0"
    assert alice.text("license") == "MIT"
    assert alice.text("downloads-total") == "0"
    alice.shot("package-page")
    # The copy button puts the snippet on the clipboard (static/app.js, no inline script).
    alice.page.locator("button[data-copy=install-config]").click()
    assert alice.page.evaluate("navigator.clipboard.readText()") == config

    consumer = Npm(tmp_path / "consumer", registry(live), "alice", token)
    consumer.write_consumer()
    installed = consumer.run("install", "@alice/hello@1.0.0")
    assert installed.returncode == 0, installed.output
    alice.page.reload()
    assert alice.text("downloads-total") == "1"
    assert "1 download in the last 90 days" in alice.text("downloads-chart")
    alice.shot("package-page-after-install")
    assert not alice.dialogs and not alice.foreign_requests


def test_delete_a_version_and_restore_it(people, browser_session, tmp_path):
    live = people
    token = live.token("alice")
    npm_publish(live, tmp_path / "v1", token, "@alice/versions", "1.0.0")
    npm_publish(live, tmp_path / "v2", token, "@alice/versions", "1.0.1")
    consumer = Npm(tmp_path / "consumer", registry(live), "alice", token)
    consumer.write_consumer()

    def installs(version: str) -> bool:
        return consumer.run("install", f"@alice/versions@{version}", "--prefer-online").returncode == 0

    assert installs("1.0.1")
    alice = browser_session(live)
    alice.goto(page_path("@alice/versions", "/versions"))
    assert "/login" in alice.page.url
    alice.sign_in("alice")  # and back to the versions page
    assert alice.page.url.endswith(page_path("@alice/versions", "/versions").replace("%2F", "/")) or \
        alice.page.url.endswith(page_path("@alice/versions", "/versions"))
    alice.shot("versions")
    alice.page.get_by_test_id("settings-tab").click()
    alice.page.get_by_test_id("delete-version-name").fill("1.0.1")
    alice.page.get_by_test_id("delete-version-confirm").fill("1.0.1")
    alice.page.get_by_test_id("delete-version").click()
    alice.page.wait_for_load_state()
    assert alice.text("done") == "Deleted version 1.0.1."
    alice.shot("version-deleted")
    assert not installs("1.0.1") and installs("1.0.0")

    alice.page.locator("[data-testid=deleted-versions] tr[data-version='1.0.1'] button").click()
    alice.page.wait_for_load_state()
    assert alice.text("done") == "Restored version 1.0.1."
    assert "restored version 1.0.1" in alice.text("history")
    assert "deleted version 1.0.1" in alice.text("history")
    alice.shot("version-restored")
    assert installs("1.0.1")


def test_signed_out_a_private_package_is_the_sign_in_page_and_an_outsider_gets_the_404_page(
        people, browser_session, tmp_path):
    live = people
    npm_publish(live, tmp_path / "secret", live.token("alice"), "@alice/hello", "1.1.0")
    alice = browser_session(live)
    alice.sign_in("alice")
    alice.goto(page_path("@alice/hello"))
    assert alice.text("package-name") == "@alice/hello"
    alice.sign_out()
    assert alice.signed_in_as() is None

    response = alice.goto(page_path("@alice/hello", "/versions"))
    assert "/login?next=" in alice.page.url and response.status == 200
    alice.shot("sign-in-for-a-private-package")
    alice.sign_in("alice")
    assert alice.page.url.split("?")[0].endswith("/versions") and alice.text("package-name") == "@alice/hello"

    bob = browser_session(live)
    bob.sign_in("bob")
    hidden = bob.goto(page_path("@alice/hello"))
    assert hidden.status == 404 and "Not found" in bob.page.content()
    bob.shot("outsider-404")
    missing = bob.goto(page_path("@alice/no-such-package"))
    assert missing.status == 404
    # The same page as for a package that does not exist: nothing tells them it does.
    assert bob.page.locator("main").inner_text() == _main_text(bob, page_path("@alice/hello"))


def _main_text(session, path: str) -> str:
    session.goto(path)
    return session.page.locator("main").inner_text()


def test_a_hostile_readme_runs_nothing_and_reaches_no_other_host(people, browser_session, tmp_path):
    live = people
    npm_publish(live, tmp_path / "hostile", live.token("alice"), "@alice/hostile", "1.0.0", readme=HOSTILE_README)
    reader = browser_session(live)  # signed out: the package is public
    response = reader.goto(page_path("@alice/hostile"))
    assert response.status == 200
    assert "Hostile readme" in reader.text("readme")
    readme = reader.page.get_by_test_id("readme")
    readme.get_by_text("hover me").hover()
    for link in readme.locator("a").all():
        link.click(no_wait_after=True)
    reader.page.wait_for_load_state()
    reader.shot("hostile-readme")
    assert reader.page.evaluate("[...document.scripts].map(s => s.src)") == [f"{live.origin}/_static/app.js"]
    assert readme.locator("iframe, object, svg, form, link, script, [onerror], [onmouseover]").count() == 0
    assert reader.dialogs == []
    assert reader.foreign_requests == []

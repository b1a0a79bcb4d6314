"""What the package pages show: the README made safe, install snippets with this appliance's URLs for
each format, the downloads chart, tags, dependencies, the states a reader must notice, versions paged,
and names that hold `/`."""
from __future__ import annotations

import datetime as dt
import html as html_module
import re
from urllib.parse import quote

import pytest

from appliance import packages as service
from appliance.accounts.service import create_organization, create_repository, create_user, get_account
from appliance.auth import recent
from appliance.auth.permissions import Actor
from appliance.models.repositories import Repository
from appliance.settings import store_setting
from tests.support.queries import Queries
from tests.support.web import publish, sign_in_session

HOSTILE_README = """# Hostile

<script>alert("script")</script>

<img src="x" onerror="alert('onerror')">

<a href="javascript:alert('link')">click</a>

[markdown link](javascript:alert('md'))

<a href="JaVaScRiPt&#58;alert('entity')">entity</a>

<iframe src="https://evil.example/"></iframe>

<svg onload="alert('svg')"></svg>

<div style="background:url(https://evil.example/x)" onclick="alert('click')">styled</div>

![tracker](http://evil.example/pixel.png)

![protocol relative](//evil.example/pixel.png)

![allowed](https://images.example/logo.png)

![local](/_static/logo.png)

<form action="https://evil.example/"><input name="password"></form>
"""


@pytest.fixture
def acme(app):
    with app.app_context():
        alice = create_user("alice")
        create_user("bob")
        org = create_organization("acme", alice)
        create_repository(org, "widgets", "public")
        store_setting("anonymous_read", True)
        return alice


def page_of(name: str, fmt: str = "npm", owner: str = "acme", kind: str = "orgs") -> str:
    return f"/{kind}/{owner}/packages/{fmt}/package/{quote(name, safe='@:')}"


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def readme_of(html: str) -> str:
    return html.split('data-testid="readme">', 1)[1].split("</section>", 1)[0]


def test_a_hostile_readme_is_rendered_inert(app, acme, client):
    with app.app_context():
        publish("alice", "acme", "widgets", "@acme/hostile", "1.0.0", readme=HOSTILE_README)
    response = client.get(page_of("@acme/hostile"))
    readme = readme_of(text(response))
    assert "<h1>Hostile</h1>" in readme
    for gone in ("<script", "onerror", "onload", "onclick", "<iframe", "<svg", "style=", "<form", "<input"):
        assert gone not in readme, gone
    # No attribute leads to script or to another host but https images (a refused link stays as text).
    attributes = re.findall(r'\b(href|src|action)="([^"]*)"', readme)
    assert attributes and not [value for _, value in attributes if "javascript" in value.lower() or "evil" in value]
    assert 'src="https://images.example/logo.png"' in readme and 'src="/_static/logo.png"' in readme
    assert 'rel="nofollow noopener noreferrer"' in readme
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_huge_readme_is_cut_and_nested_markup_is_bounded(app, acme, client):
    nested_list = "".join("  " * depth + "- level\n" for depth in range(5000))
    huge = "# Huge\n\n" + ("A line of the README with *emphasis*.\n\n" * 140_000)  # about 5 MB
    assert len(huge) > 5_000_000
    with app.app_context():
        publish("alice", "acme", "widgets", "@acme/huge", "1.0.0", readme=huge)
        publish("alice", "acme", "widgets", "@acme/nested", "1.0.0", readme=nested_list)
        publish("alice", "acme", "widgets", "@acme/divs", "1.0.0", readme="<div>" * 100_000 + "deep")
    huge_page = readme_of(text(client.get(page_of("@acme/huge"))))
    assert "The README is cut here" in huge_page and len(huge_page) < 200_000
    nested = readme_of(text(client.get(page_of("@acme/nested"))))
    assert nested.count("<ul>") <= 20  # markdown-it's block nesting bound
    # More raw tags than a README needs: its HTML is shown as text, not parsed into 100,000 levels.
    divs = readme_of(text(client.get(page_of("@acme/divs"))))
    assert "<div>" not in divs and "&lt;div&gt;" in divs


def snippets(html: str) -> dict[str, str]:
    return {m[0]: html_module.unescape(m[1]) for m in re.findall(r'<pre id="([^"]+)"[^>]*>(.*?)</pre>', html, re.DOTALL)}


@pytest.mark.parametrize("isolation", [False, True])
def test_install_snippets_carry_this_appliances_urls(app, acme, client, isolation):
    with app.app_context():
        store_setting("hostname", "packages.example")
        store_setting("subdomain_isolation", isolation)
        publish("alice", "acme", "widgets", "@acme/widget", "2.0.0")
        publish("alice", "acme", "widgets", "widget", "1.2.3", fmt="rubygems", files={"widget-1.2.3.gem": b"gem"})
        publish("alice", "acme", "widgets", "com.acme:widget", "3.1", fmt="maven", files={"widget-3.1.jar": b"jar"})
        publish("alice", "acme", "widgets", "Acme.Widget", "4.0.0", fmt="nuget",
                files={"acme.widget.4.0.0.nupkg": b"nupkg"})
        publish("alice", "acme", "widgets", "app", "sha256:" + "a" * 64, fmt="docker", tags=("latest",),
                files={"manifest.json": b"{}"})
    headers = {"Host": "packages.example:8080"}

    def base(fmt: str) -> str:
        return f"http://{fmt}.packages.example:8080/" if isolation else \
            f"http://packages.example:8080/_registry/{fmt}/"

    npm = snippets(text(client.get(page_of("@acme/widget"), headers=headers)))
    assert npm["install-config"] == (f"@acme:registry={base('npm')}\n"
                                     f"//{base('npm').split('://')[1]}:_authToken=TOKEN")
    assert npm["install-command"] == "npm install @acme/widget@2.0.0"
    gem = snippets(text(client.get(page_of("widget", "rubygems"), headers=headers)))
    assert gem["install-config"] == f'source "{base("rubygems")}acme/" do\n  gem "widget", "1.2.3"\nend'
    assert "BUNDLE_" + ("RUBYGEMS__PACKAGES__EXAMPLE" if isolation else "PACKAGES__EXAMPLE") \
        + "=acme:TOKEN" in gem["install-command"]
    maven = snippets(text(client.get(page_of("com.acme:widget", "maven"), headers=headers)))
    assert f"<url>{base('maven')}acme/widgets</url>" in maven["install-config"]
    assert "<groupId>com.acme</groupId>" in maven["install-config"] and "<version>3.1</version>" in maven["install-config"]
    assert f"url '{base('maven')}acme/widgets'" in maven["install-command"]
    assert "implementation 'com.acme:widget:3.1'" in maven["install-command"]
    nuget = snippets(text(client.get(page_of("Acme.Widget", "nuget"), headers=headers)))
    assert f'value="{base("nuget")}acme/index.json"' in nuget["install-config"]
    docker = text(client.get(page_of("app", "docker"), headers=headers))
    if isolation:
        assert snippets(docker)["install-command"] == "docker pull docker.packages.example:8080/acme/widgets/app:latest"
    else:
        assert "served only with subdomain isolation on" in docker


def test_the_package_page_shows_downloads_tags_dependencies_and_license(app, acme, client):
    with app.app_context():
        publish("alice", "acme", "widgets", "@acme/widget", "1.0.0", tags=("latest",))
        version = publish("alice", "acme", "widgets", "@acme/widget", "2.0.0-beta.1", tags=("next",), license="MIT",
                          metadata={"dependencies": {"left-pad": "^1.3.0"}, "devDependencies": {"jest": "29"},
                                    "repository": {"type": "git", "url": "git+https://git.example/acme/widget.git"}})
        today = dt.date.today()
        service.record_download(version, day=today, count=7)
        service.record_download(version, day=today - dt.timedelta(days=10), count=3)
        service.record_download(version, day=today - dt.timedelta(days=200), count=100)  # outside the chart
    html = text(client.get(page_of("@acme/widget")))
    assert 'data-testid="downloads-total">110<' in html
    chart = html.split('data-testid="downloads-chart">', 1)[1].split("</figure>", 1)[0]
    assert chart.count('class="chart-bar"') == 2 and "10 downloads in the last 90 days" in chart
    assert f"{today.isoformat()}: 7" in chart
    assert "<code>1.0.0</code>" in html.split('data-testid="latest-version"')[1][:100]  # `latest` wins
    tags = html.split('data-testid="tags">', 1)[1].split("</ul>", 1)[0]
    assert "latest" in tags and "next" in tags and "2.0.0-beta.1" in tags
    versions = text(client.get(page_of("@acme/widget") + "/versions"))
    assert "prerelease" in versions.split('data-version="2.0.0-beta.1"')[1].split("</tr>")[0]
    beta = text(client.get(page_of("@acme/widget") + f"/versions/{version.id}"))
    assert "left-pad" in beta and "^1.3.0" in beta and "jest" in beta and "MIT" in beta
    assert 'href="https://git.example/acme/widget.git"' in beta


def test_states_deprecated_unlisted_platform_and_yanked(app, acme, client):
    with app.app_context():
        publish("alice", "acme", "widgets", "@acme/old", "1.0.0", tags=("latest",),
                metadata={"deprecated": "use @acme/new"})
        publish("alice", "acme", "widgets", "Acme.Hidden", "1.0.0", fmt="nuget", metadata={"listed": False},
                files={"acme.hidden.1.0.0.nupkg": b"x"})
        publish("alice", "acme", "widgets", "native", "1.0.0-x86_64-linux", fmt="rubygems",
                metadata={"platform": "x86_64-linux", "version": "1.0.0"}, files={"native-1.0.0-x86_64-linux.gem": b"x"})
        yanked = publish("alice", "acme", "widgets", "native", "0.9.0", fmt="rubygems",
                         files={"native-0.9.0.gem": b"x"})
        package = service.find_package("acme", "rubygems", "native")
        service.delete_version(service_actor("alice"), service.find_version(package, "0.9.0"))
    old = text(client.get(page_of("@acme/old")))
    assert 'data-testid="deprecated"' in old and "use @acme/new" in old
    assert "is unlisted" in text(client.get(page_of("Acme.Hidden", "nuget")))
    native = text(client.get(page_of("native", "rubygems")))
    assert "x86_64-linux</span>" in native
    # A yanked version is gone for readers, and shown as yanked, restorable, to the admins.
    assert client.get(page_of("native", "rubygems") + f"/versions/{yanked.id}").status_code == 404
    sign_in_session(client, acme)
    admin_view = text(client.get(page_of("native", "rubygems") + f"/versions/{yanked.id}"))
    assert '<span class="label danger">yanked</span>' in admin_view and "can be restored until" in admin_view
    assert "1 deleted version can be restored" in text(client.get(page_of("native", "rubygems")))


def service_actor(login: str) -> Actor:
    return Actor(user=get_account(login))


def test_thousands_of_versions_are_paged(app, acme, client):
    with app.app_context():
        for i in range(120):
            publish("alice", "acme", "widgets", "@acme/many", f"1.0.{i}")
    first = text(client.get(page_of("@acme/many") + "/versions"))
    assert first.count("<tr data-version=") == 50 and "Page 1 of 3 (120)" in first and 'rel="next"' in first
    last = text(client.get(page_of("@acme/many") + "/versions?page=3"))
    assert last.count("<tr data-version=") == 20 and 'data-version="1.0.0"' in last and 'rel="next"' not in last
    overview = text(client.get(page_of("@acme/many")))
    assert overview.count("<tr data-version=") == 10 and "All 120 versions" in overview


def test_names_with_slashes_and_page_words(app, acme, client):
    """npm scopes and Docker images hold `/`; a package may even be called `@acme/versions`."""
    with app.app_context():
        publish("alice", "acme", "widgets", "@acme/versions", "1.0.0")
        publish("alice", "acme", "widgets", "tools/builder", "sha256:" + "b" * 64, fmt="docker",
                files={"manifest.json": b"{}"})
    assert 'data-testid="package-name">@acme/versions<' in text(client.get("/orgs/acme/packages/npm/package/@acme/versions"))
    assert 'data-testid="package-name">@acme/versions<' in text(client.get(page_of("@acme/versions")))
    assert "Versions (1)" in text(client.get(page_of("@acme/versions") + "/versions"))
    assert 'data-testid="package-name">tools/builder<' in text(client.get(page_of("tools/builder", "docker")))
    assert client.get("/orgs/acme/packages/pypi/package/anything").status_code == 404


def test_owner_and_repository_pages_filter_by_format_visibility_and_text(app, acme, client):
    with app.app_context():
        create_repository(get_account("acme"), "secret", "private")
        publish("alice", "acme", "widgets", "@acme/alpha", "1.0.0")
        publish("alice", "acme", "widgets", "beta", "1.0.0", fmt="rubygems", files={"beta-1.0.0.gem": b"x"})
        publish("alice", "acme", "secret", "@acme/gamma", "1.0.0")
    sign_in_session(client, acme)

    def listed(path: str) -> set[str]:
        return set(re.findall(r'<a class="name" href="[^"]+">([^<]+)</a>', text(client.get(path))))

    assert listed("/orgs/acme/packages") == {"@acme/alpha", "beta", "@acme/gamma"}
    assert listed("/orgs/acme/packages?type=npm") == {"@acme/alpha", "@acme/gamma"}
    assert listed("/orgs/acme/packages?visibility=private") == {"@acme/gamma"}
    assert listed("/orgs/acme/packages?q=ALP") == {"@acme/alpha"}
    assert listed("/acme/widgets/packages") == {"@acme/alpha", "beta"}
    assert listed("/acme/widgets/packages?type=rubygems") == {"beta"}
    assert listed("/search?q=a&type=npm") == {"@acme/alpha", "@acme/gamma"}
    # The dashboard: newest publishes first.
    assert re.findall(r'<a class="name" href="[^"]+">([^<]+)</a>', text(client.get("/")))[0] == "@acme/gamma"


def test_lists_count_only_so_far_and_say_so(app, acme, client, monkeypatch):
    """Lists count up to listings.COUNT_UP_TO packages, as GitHub's show "1,000+"."""
    monkeypatch.setattr("appliance.web.listings.PER_PAGE", 2)
    monkeypatch.setattr("appliance.web.listings.COUNT_UP_TO", 3)
    with app.app_context():
        for i in range(5):
            publish("alice", "acme", "widgets", f"@acme/counted-{i}", "1.0.0")
    first = text(client.get("/orgs/acme/packages"))
    assert "Page 1 of 2+ (3+)" in first and 'rel="next"' in first
    last = text(client.get("/orgs/acme/packages?page=3"))
    assert "Page 3 of 3 (5)" in last and 'rel="next"' not in last
    assert "Page 1 of 2+ (3+)" in text(client.get("/")) and "(3+)" in text(client.get("/search?q=counted"))
    assert "Page 1 of 1 (1)" not in text(client.get("/search?q=counted-4"))  # one page: no pager


def test_pages_cost_the_same_queries_however_much_they_list(app, acme, client):
    """The lists and the package page read in batches: more packages, versions and downloads add rows,
    not queries."""
    # Every credential and role looked up each time: counts that do not depend on the second they fall in.
    app.extensions[recent.EXTENSION] = recent.RecentAnswers(lifetime=0)
    sign_in_session(client, acme)
    pages = ("/", "/orgs/acme/packages", "/search?q=acme", "/acme/widgets/packages", page_of("@acme/grows"),
             page_of("@acme/grows") + "/versions")

    def queries() -> dict[str, int]:
        counted = {}
        for path in pages:
            text(client.get(path))  # the package page kept by the worker is read again below
            with Queries() as executed:
                text(client.get(path))
            counted[path] = executed.count
        return counted

    with app.app_context():
        publish("alice", "acme", "widgets", "@acme/grows", "1.0.0", tags=("latest",))
    few = queries()
    with app.app_context():
        for i in range(8):
            version = publish("alice", "acme", "widgets", "@acme/grows", f"1.1.{i}", tags=(f"t{i}",))
            service.record_download(version, count=i + 1)
            publish("alice", "acme", "widgets", f"@acme/other-{i}", "1.0.0", tags=("latest",))
    assert queries() == few
    # What a list costs: the settings, the session's account, the count, the page, its versions, its tags,
    # and, as nothing is remembered here, the organizations the user owns and their collaborations, which
    # the repositories listed depend on (a worker asks those once a second: auth.recent).
    assert few["/"] <= 8


def test_the_kept_package_page_follows_every_change(app, acme, client):
    """A worker keeps what the package page shows; a publish, a download, a deletion or a new visibility
    shows at once."""
    with app.app_context():
        publish("alice", "acme", "widgets", "@acme/kept", "1.0.0", tags=("latest",))
    assert "<code>1.0.0</code>" in text(client.get(page_of("@acme/kept"))).split('data-testid="latest-version"')[1][:60]
    with app.app_context():
        newer = publish("alice", "acme", "widgets", "@acme/kept", "1.1.0", tags=("latest",))
    html = text(client.get(page_of("@acme/kept")))
    assert "<code>1.1.0</code>" in html.split('data-testid="latest-version"')[1][:60]
    assert 'data-testid="downloads-total">0<' in html
    with app.app_context():
        service.record_download(newer)
    assert 'data-testid="downloads-total">1<' in text(client.get(page_of("@acme/kept")))
    with app.app_context():
        service.delete_version(service_actor("alice"), newer)
    assert "<code>1.0.0</code>" in text(client.get(page_of("@acme/kept"))).split('data-testid="latest-version"')[1][:60]
    with app.app_context():
        Repository.update(visibility="private").where(Repository.name == "widgets").execute()
    assert client.get(page_of("@acme/kept")).status_code == 302  # now the sign-in page
    sign_in_session(client, acme)
    assert '<span class="label">private</span>' in text(client.get(page_of("@acme/kept")))


def test_a_signed_in_user_who_sees_no_package_is_shown_how_to_publish_one(app, acme, client):
    """The newcomer walkthrough's first page: a dashboard that said only "No packages here."."""
    with app.app_context():
        bob = get_account("bob")
        store_setting("subdomain_isolation", False)
    sign_in_session(client, bob)
    page = text(client.get("/"))
    assert 'data-testid="first-publish"' in page and 'href="/settings/tokens"' in page
    assert '<code data-testid="registry-npm">http://localhost/_registry/npm/</code>' in page
    assert "needs subdomain isolation" in page  # Docker has no path layout
    assert html_module.escape("@bob:registry=http://localhost/_registry/npm/\n"
                              "//localhost/_registry/npm/:_authToken=TOKEN") in page
    with app.app_context():
        store_setting("formats.rubygems.enabled", False)
    assert 'data-testid="registry-rubygems"' not in text(client.get("/"))
    with app.app_context():
        publish("alice", "acme", "widgets", "@acme/alpha", "1.0.0")  # public: bob sees it now
    page = text(client.get("/"))
    assert 'data-testid="first-publish"' not in page and "@acme/alpha" in page
    client.get("/logout")
    assert 'data-testid="first-publish"' not in text(client.get("/"))  # signed out: the public list

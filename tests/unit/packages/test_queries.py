"""The read model: packages and versions as every face reads them, paged and counted in SQL, with the
permission of `authorize` applied in the query per repository, decoded and loaded in batches."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from flask import current_app

from appliance import packages as service
from appliance.accounts.service import add_member, create_organization, create_repository, create_user, grant
from appliance.auth.permissions import ANONYMOUS, Action, Actor, Outcome, authorize, repositories_allowing
from appliance.auth.tokens import find_token, issue_token
from appliance.db import database
from appliance.models import Account, Repository
from appliance.models.base import utcnow
from appliance.packages import (
    AccessDenied,
    Dependency,
    FileUpload,
    FileView,
    PackageEvent,
    PackagePlace,
    PackageView,
    Page,
    ShownVersions,
    VersionDraft,
    VersionExists,
    VersionNotFound,
    VersionView,
    downloads_by_day,
    get_package,
    get_version,
    list_packages,
    list_versions,
    subscribe,
)
from appliance.settings import store_setting
from tests.support.permission_matrix import BAD_CREDENTIALS, arrange_actors
from tests.support.queries import Queries

ALL_SCOPES = ["read:packages", "write:packages", "delete:packages", "repo"]


@pytest.fixture
def request_ctx(app):
    with app.app_context(), app.test_request_context():
        yield


def actor_of(user, scopes=ALL_SCOPES) -> Actor:
    token, _ = issue_token(user, list(scopes))
    return Actor(user=user, token=token)


def publish(actor, owner, name, version="1.0.0", *, fmt="npm", repository=None, metadata=None, files=None,
            tags=()):
    files = files if files is not None else [f"{name}-{version}.tgz"]
    return service.publish_version(
        actor, owner_login=owner, fmt=fmt, name=name,
        draft=VersionDraft(version, metadata if metadata is not None else {"name": name, "version": version},
                           summary=f"{name} {version}"),
        uploads=[FileUpload(f, [f"{name} {version} {f}".encode()]) for f in files],
        repository_name=repository, default_repository_name=name,
        tags=tags)


@pytest.fixture
def world(request_ctx):
    """acme (an organization) with a public, a private and an internal repository and a package in each;
    its owner, a reader of the private one, and a stranger."""
    owner = create_user("acme-owner")
    acme = create_organization("acme", owner)
    reader, stranger = create_user("reader"), create_user("stranger")
    repos = {v: create_repository(acme, f"repo-{v}", v) for v in ("public", "private", "internal")}
    grant(repos["private"], reader, "read")
    writer = actor_of(owner)
    for visibility in repos:
        publish(writer, "acme", f"pkg-{visibility}", repository=f"repo-{visibility}")
    return {"owner": writer, "reader": actor_of(reader), "stranger": actor_of(stranger), "repos": repos}


def names(page: Page) -> set[str]:
    return {p.name for p in page.items}


# ---- the permission, in SQL ---------------------------------------------------------------------------


def matrix_actors(secrets) -> dict[str, Actor]:
    """Anonymous and every token of the permission matrix's actors, by name and the token's repository."""
    actors = {"anonymous": ANONYMOUS}
    for (name, _visibility), secret in secrets.items():
        if name in BAD_CREDENTIALS or secret is None:
            continue
        token = find_token(secret)
        actors[f"{name}@{token.repository_id}"] = Actor(user=token.user, token=token)
    return actors


def test_the_sql_condition_allows_exactly_what_authorize_allows(request_ctx):
    """DESIGN.md's table, every actor of the permission matrix and every repository of its world: the
    condition listings filter with answers as `authorize` does, with anonymous_read on and off."""
    secrets = arrange_actors()
    repositories = list(Repository.select())
    actors = matrix_actors(secrets)
    actors["session"] = Actor(user=find_token(secrets["collab-write", "public"]).user)
    for anonymous_read in (True, False):
        for label, actor in actors.items():
            for action in Action:
                expected = {r.id for r in repositories
                            if authorize(actor, r, action, anonymous_read=anonymous_read).allowed}
                found = {r.id for r in Repository.select().where(
                    repositories_allowing(actor, action, anonymous_read=anonymous_read))}
                assert found == expected, (label, action, anonymous_read)


def test_listings_show_exactly_what_authorize_allows_to_each_actor_in_turn(request_ctx):
    """The same table through list_packages, whose statements are compiled once per shape of grant
    (db.Statement): every actor in turn, so a value left in a compiled statement (one user's id or
    collaborations) would show the next actor of that shape what the first may see. Deleted packages
    are listed to those who may restore them (DELETE)."""
    secrets = arrange_actors()
    admin = Actor(user=Account.get(Account.lower_login == "site-admin"))
    packages = {}
    for repository in Repository.select():
        name = f"pkg-{repository.owner.login}-{repository.name}"
        publish(admin, repository.owner.login, name, repository=repository.name)
        packages[name] = repository
        deleted = f"{name}-deleted"
        publish(admin, repository.owner.login, deleted, repository=repository.name)
        service.delete_package(admin, service.find_package(repository.owner.login, "npm", deleted))
        packages[deleted] = repository
    actors = matrix_actors(secrets)
    for login in ("collab-write", "other", "org-owner", "stranger", "site-admin"):
        actors[f"session {login}"] = Actor(user=Account.get(Account.lower_login == login))
    for anonymous_read in (True, False):
        store_setting("anonymous_read", anonymous_read)
        for label, actor in actors.items():
            for state, action in (("active", Action.READ), ("deleted", Action.DELETE)):
                expected = {name for name, repository in packages.items()
                            if name.endswith("-deleted") == (state == "deleted")
                            and authorize(actor, repository, action, anonymous_read=anonymous_read).allowed}
                with current_app.test_request_context():  # settings are read once per request
                    try:
                        page = list_packages(actor, state=state, per_page=1000, count_up_to=1000)
                    except AccessDenied:
                        page = None
                assert (names(page) if page else set()) == expected, (label, state, anonymous_read)
                assert page is None or page.total == len(expected)


# ---- list_packages --------------------------------------------------------------------------------------


def test_anonymous_lists_public_packages_only(world):
    page = list_packages(ANONYMOUS)
    assert names(page) == {"pkg-public"} and page.total == 1


def test_anonymous_listing_is_challenged_when_anonymous_read_is_off(world, app):
    store_setting("anonymous_read", False)
    with app.test_request_context():  # settings are read once per request
        with pytest.raises(AccessDenied) as caught:
            list_packages(ANONYMOUS)
        assert caught.value.decision.outcome is Outcome.UNAUTHENTICATED
        assert names(list_packages(world["stranger"])) == {"pkg-public", "pkg-internal"}


def test_signed_in_users_list_what_they_may_read(world):
    assert names(list_packages(world["stranger"])) == {"pkg-public", "pkg-internal"}
    assert names(list_packages(world["reader"])) == {"pkg-public", "pkg-internal", "pkg-private"}
    assert list_packages(world["owner"], owner="acme").total == 3


def test_a_token_without_a_reading_scope_may_list_nothing(world):
    tokenless = actor_of(world["owner"].user, [])
    with pytest.raises(AccessDenied) as caught:
        list_packages(tokenless)
    assert caught.value.decision.outcome is Outcome.FORBIDDEN


def test_a_missing_owner_or_hidden_repository_is_401_for_anonymous_and_404_for_an_outsider(world):
    for kwargs in ({"owner": "nobody"}, {"repository": "acme/repo-private"}, {"repository": "acme/nothing"}):
        with pytest.raises(AccessDenied) as anonymous:
            list_packages(ANONYMOUS, **kwargs)
        with pytest.raises(AccessDenied) as outsider:
            list_packages(world["stranger"], **kwargs)
        assert anonymous.value.decision.outcome is Outcome.UNAUTHENTICATED, kwargs
        assert outsider.value.decision.outcome is Outcome.NOT_FOUND, kwargs
    assert names(list_packages(world["reader"], repository="acme/repo-private")) == {"pkg-private"}
    assert names(list_packages(world["reader"], owner="acme", repository="repo-private")) == {"pkg-private"}


def test_internal_packages_are_for_signed_in_users_only(world):
    assert names(list_packages(world["stranger"], visibility="internal")) == {"pkg-internal"}
    assert list_packages(ANONYMOUS, visibility="internal").total == 0


def test_paging_counts_every_page_in_sql(world):
    for i in range(7):
        publish(world["owner"], "acme", f"many-{i}", repository="repo-public")
    pages = [list_packages(ANONYMOUS, text="many", order="name", page=n, per_page=3) for n in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [7, 7, 7, 7]
    assert [len(p.items) for p in pages] == [3, 3, 1, 0]
    assert pages[0].pages == 3 and pages[0].has_next and not pages[2].has_next
    assert [p.name for page in pages for p in page.items] == [f"many-{i}" for i in range(7)]


def test_a_total_counted_up_to_a_bound_says_there_are_more(world):
    for i in range(7):
        publish(world["owner"], "acme", f"many-{i}", repository="repo-public")

    def listed(page: int, count_up_to: int) -> tuple:
        found = list_packages(ANONYMOUS, text="many", order="name", page=page, per_page=2, count_up_to=count_up_to)
        return found.total, found.total_exact, found.has_next, [p.name for p in found.items]

    assert listed(1, 4) == (4, False, True, ["many-0", "many-1"])
    # A page past the bound counts to its own end: page 3 ends at 6, and there are more.
    assert listed(3, 4) == (6, False, True, ["many-4", "many-5"])
    assert listed(4, 4) == (7, True, False, ["many-6"])
    assert listed(1, 7) == (7, True, True, ["many-0", "many-1"])
    # What the actor may not see is not counted.
    publish(world["owner"], "acme", "many-secret", repository="repo-private")
    assert list_packages(world["stranger"], text="many", per_page=2, count_up_to=7).total_exact
    assert not list_packages(world["reader"], text="many", per_page=2, count_up_to=7).total_exact


def test_newest_change_first(world):
    publish(world["owner"], "acme", "pkg-public", "2.0.0")
    assert list_packages(world["owner"]).items[0].name == "pkg-public"


def test_deleted_packages_are_listed_to_those_who_may_restore_them(world):
    service.delete_package(world["owner"], service.find_package("acme", "npm", "pkg-public"))
    assert "pkg-public" not in names(list_packages(world["owner"]))
    assert names(list_packages(world["owner"], state="deleted")) == {"pkg-public"}
    assert list_packages(world["stranger"], state="deleted").total == 0


def test_listing_is_a_fixed_number_of_queries_whatever_the_page_holds(world):
    def queries_for(per_page: int) -> int:
        executed = []
        real = database.obj.execute_sql

        def counting(sql, params=None, *args, **kwargs):
            executed.append(sql)
            return real(sql, params, *args, **kwargs)
        database.obj.execute_sql = counting
        try:
            list_packages(world["owner"], per_page=per_page)
        finally:
            del database.obj.execute_sql
        return len(executed)

    for i in range(6):
        publish(world["owner"], "acme", f"batch-{i}", repository="repo-public", tags=["latest"])
    queries_for(1)  # the first listing of the second also looks up the user's roles (auth.recent)
    assert queries_for(1) == queries_for(9)


# ---- get_package ------------------------------------------------------------------------------------


def test_get_package_answers_as_registries_do(world):
    with pytest.raises(AccessDenied) as anonymous:
        get_package(ANONYMOUS, "acme", "npm", "pkg-private")
    with pytest.raises(AccessDenied) as outsider:
        get_package(world["stranger"], "acme", "npm", "pkg-private")
    assert anonymous.value.decision.outcome is Outcome.UNAUTHENTICATED
    assert outsider.value.decision.outcome is Outcome.NOT_FOUND
    package = get_package(world["reader"], "ACME", "npm", "PKG-private")
    assert isinstance(package, PackageView)
    assert (package.owner.login, package.owner.kind) == ("acme", "organization")
    assert package.repository.full_name == "acme/repo-private"
    assert package.repository.visibility == "private"


def test_get_package_counts_and_tags(world):
    owner = world["owner"]
    publish(owner, "acme", "pkg-public", "1.1.0", tags=["next"])
    version = service.find_version(service.find_package("acme", "npm", "pkg-public"), "1.1.0")
    service.record_download(version)
    service.record_download(version)
    package = get_package(ANONYMOUS, "acme", "npm", "pkg-public")
    assert package.version_count == 2
    assert package.downloads_total == 2
    assert package.tags == {"next": "1.1.0"}
    assert package.latest_version == "1.1.0"


def test_a_deleted_version_leaves_the_counts_and_the_latest_but_not_the_downloads(world):
    owner = world["owner"]
    publish(owner, "acme", "pkg-public", "1.1.0")
    package = service.find_package("acme", "npm", "pkg-public")
    old, new = service.find_version(package, "1.0.0"), service.find_version(package, "1.1.0")
    service.record_download(old, count=2)
    service.record_download(new, count=3)
    assert get_package(ANONYMOUS, "acme", "npm", "pkg-public").latest_version == "1.1.0"
    service.delete_version(owner, new)
    view = get_package(ANONYMOUS, "acme", "npm", "pkg-public")
    # Downloads a restorable version had still count, as the per-day rows still do.
    assert (view.version_count, view.latest_version, view.downloads_total) == (1, "1.0.0", 5)
    assert [v.downloads_total for v in list_versions(owner, view, state="deleted").items] == [3]


def test_a_deleted_package_is_found_only_by_those_who_may_restore_it(world):
    service.delete_package(world["owner"], service.find_package("acme", "npm", "pkg-public"))
    with pytest.raises(AccessDenied):
        get_package(world["owner"], "acme", "npm", "pkg-public")
    assert get_package(world["owner"], "acme", "npm", "pkg-public", include_deleted=True).deleted_at is not None
    with pytest.raises(AccessDenied) as reader:
        get_package(world["stranger"], "acme", "npm", "pkg-public", include_deleted=True)
    assert reader.value.decision.outcome is Outcome.NOT_FOUND


# ---- versions -----------------------------------------------------------------------------------------


def test_a_version_view_is_decoded_with_its_main_file_tags_and_downloads(world):
    owner = world["owner"]
    publish(owner, "acme", "pkg-public", "2.0.0-beta.1",
            metadata={"name": "pkg-public", "deprecated": "use 3"}, tags=["beta"])
    package = get_package(ANONYMOUS, "acme", "npm", "pkg-public")
    version = get_version(ANONYMOUS, package, version="2.0.0-BETA.1")
    assert isinstance(version, VersionView)
    assert version.metadata == {"name": "pkg-public", "deprecated": "use 3"}
    assert version.deprecated == "use 3" and version.prerelease and version.listed
    assert version.tags == ["beta"]
    assert version.publisher.login == "acme-owner"
    assert isinstance(version.main_file, FileView) and version.main_file.name == "pkg-public-2.0.0-beta.1.tgz"
    assert version.size == version.main_file.size
    assert get_version(ANONYMOUS, package, version_id=version.id).version == "2.0.0-beta.1"
    with pytest.raises(VersionNotFound):
        get_version(ANONYMOUS, package, version="9.9.9")


@pytest.mark.parametrize(("fmt", "version", "metadata", "files", "main", "states"), [
    ("nuget", "1.0.0-rc.1", {"isPrerelease": True, "listed": False},
     ["hello.nuspec", "hello.1.0.0-rc.1.nupkg"], "hello.1.0.0-rc.1.nupkg",
     {"prerelease": True, "listed": False}),
    ("rubygems", "1.0.0-x86_64-linux", {"version": "1.0.0", "platform": "x86_64-linux"},
     ["hello-1.0.0-x86_64-linux.gem"], "hello-1.0.0-x86_64-linux.gem",
     {"prerelease": False, "platform": "x86_64-linux"}),
    ("rubygems", "2.0.0.pre", {"version": "2.0.0.pre", "platform": "ruby"}, ["hello-2.0.0.pre.gem"],
     "hello-2.0.0.pre.gem", {"prerelease": True, "platform": None}),
    ("maven", "1.0-SNAPSHOT", {"artifactId": "hello", "packaging": "jar"},
     ["hello-1.0-SNAPSHOT.pom", "hello-1.0-SNAPSHOT-sources.jar", "hello-1.0-SNAPSHOT.jar",
      "hello-1.0-SNAPSHOT.jar.sha1"], "hello-1.0-SNAPSHOT.jar", {"prerelease": True}),
    ("maven", "1.0", {"artifactId": "hello", "packaging": "pom"}, ["hello-1.0.pom", "hello-1.0.pom.sha1"],
     "hello-1.0.pom", {"prerelease": False}),
    ("docker", "sha256:" + "a" * 64,
     {"mediaType": "application/vnd.oci.image.index.v1+json",
      "platforms": [{"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64",
                                                               "variant": "v8"}]},
     ["sha256:" + "b" * 64, "manifest.json"], "manifest.json", {"platform": "linux/amd64, linux/arm64/v8"}),
])
def test_each_format_decides_its_main_file_and_states(world, fmt, version, metadata, files, main, states):
    publish(world["owner"], "acme", "hello", version, fmt=fmt, repository="repo-public", metadata=metadata,
            files=files)
    view = get_version(ANONYMOUS, get_package(ANONYMOUS, "acme", fmt, "hello"), version=version)
    assert view.main_file.name == main
    for state, value in states.items():
        assert getattr(view, state) == value, state


def test_list_versions_pages_newest_first_and_deleted_ones_for_restorers(world):
    owner = world["owner"]
    for minor in range(1, 5):
        publish(owner, "acme", "pkg-public", f"1.{minor}.0")
    package_row = service.find_package("acme", "npm", "pkg-public")
    service.delete_version(owner, service.find_version(package_row, "1.0.0"))
    package = get_package(ANONYMOUS, "acme", "npm", "pkg-public")
    first = list_versions(ANONYMOUS, package, per_page=3)
    assert first.total == 4 and [v.version for v in first.items] == ["1.4.0", "1.3.0", "1.2.0"]
    assert [v.version for v in list_versions(ANONYMOUS, package, page=2, per_page=3).items] == ["1.1.0"]
    deleted = list_versions(owner, package, state="deleted")
    assert [v.version for v in deleted.items] == ["1.0.0"] and deleted.items[0].deleted_at is not None
    with pytest.raises(AccessDenied):
        list_versions(world["stranger"], package, state="deleted")
    with pytest.raises(VersionNotFound):
        get_version(world["stranger"], package, version="1.0.0")
    assert get_version(owner, package, version="1.0.0").deleted_at is not None


def test_registries_read_views_of_many_packages_in_one_statement(world):
    """What a registry shows of the packages it found (rows, as find_package gives them): the views of
    their live versions with their packages' views, the same as get_package and get_version give, in one
    statement however many packages and versions; only those a ShownVersions shows, or the version named."""
    owner = world["owner"]
    publish(owner, "acme", "pkg-public", "1.1.0", tags=["next"], files=["b.tgz", "a.tgz"])
    publish(owner, "acme", "pkg-public", "1.2.0", metadata={"name": "pkg-public", "hidden": True})
    gone = publish(owner, "acme", "pkg-public", "1.3.0")
    service.record_download(gone, count=4)
    service.delete_version(owner, gone)
    publish(owner, "acme", "pkg-other", "1.0.0", repository="repo-public", tags=["latest"])
    rows = [service.find_package("acme", "npm", name) for name in ("pkg-public", "pkg-other", "pkg-private")]
    with Queries() as queries:
        found = service.live_version_views(rows)
    assert queries.count == 1
    for row in rows:
        package = get_package(owner, "acme", "npm", row.name)
        expected = [get_version(owner, package, version=v.version) for v in service.live_versions(row)]
        assert found[row.id] == expected and all(v.package == package for v in found[row.id])
    assert [f.name for f in found[rows[0].id][1].files] == ["b.tgz", "a.tgz"]  # oldest first, as published
    assert [f.created_at for f in found[rows[0].id][1].files] == [
        f.created_at for f in service.files_of([service.find_version(rows[0], "1.1.0")])[found[rows[0].id][1].id]]
    assert found[rows[0].id][0].package.downloads_total == 4 and found[rows[0].id][0].package.tags == {"next": "1.1.0"}
    shown = service.live_version_views(rows[:1], shown=ShownVersions(hidden_if_true=("hidden",)))
    assert [v.version for v in shown[rows[0].id]] == ["1.0.0", "1.1.0"]
    assert [v.version for v in service.live_version_views(rows, version="1.1.0")[rows[0].id]] == ["1.1.0"]
    assert service.live_version_views(rows, version="1.3.0") == {row.id: [] for row in rows}
    assert service.version_strings(rows[0]) == ["1.0.0", "1.1.0", "1.2.0"]
    assert service.version_strings(rows[0], shown=ShownVersions(hidden_if_true=("hidden",))) == ["1.0.0", "1.1.0"]


def test_a_view_handed_back_is_asked_again(world):
    package = get_package(world["reader"], "acme", "npm", "pkg-private")
    with pytest.raises(AccessDenied) as caught:
        list_versions(world["stranger"], package)
    assert caught.value.decision.outcome is Outcome.NOT_FOUND


def test_downloads_by_day_fills_the_days_without_downloads(world):
    version = service.find_version(service.find_package("acme", "npm", "pkg-public"), "1.0.0")
    today = utcnow().date()
    service.record_download(version, day=today - dt.timedelta(days=2), count=5)
    service.record_download(version)
    service.record_download(version, day=today - dt.timedelta(days=30), count=9)
    days = downloads_by_day(ANONYMOUS, get_package(ANONYMOUS, "acme", "npm", "pkg-public"), days=7)
    assert len(days) == 7 and days[0][0] == today - dt.timedelta(days=6) and days[-1] == (today, 1)
    assert dict(days)[today - dt.timedelta(days=2)] == 5 and sum(n for _, n in days) == 6


# ---- events ---------------------------------------------------------------------------------------------


def test_events_are_delivered_after_commit_and_never_for_a_change_that_failed(world, app):
    seen: list[PackageEvent] = []
    subscribe(seen.append, app=app)
    owner = world["owner"]
    publish(owner, "acme", "pkg-public", "1.1.0")
    with pytest.raises(VersionExists):
        publish(owner, "acme", "pkg-public", "1.1.0")
    package_row = service.find_package("acme", "npm", "pkg-public")
    service.delete_version(owner, service.find_version(package_row, "1.0.0"))
    service.delete_package(owner, package_row)
    assert [(e.action, e.version.version if e.version else None) for e in seen] == [
        ("published", "1.1.0"), ("deleted", "1.0.0"), ("deleted", None)]
    assert {(e.actor_login, e.repository, e.package.name) for e in seen} == {
        ("acme-owner", "acme/repo-public", "pkg-public")}


def test_an_event_reads_the_package_views_only_when_a_subscriber_asks_for_them(world, app):
    """The after-commit delivery read the package's and version's views for every event, about as much
    as the publish itself; the webhooks subscriber (subscribed by create_app) asks for them only for a
    repository with a hook, metrics never."""
    heard = []
    subscribe(lambda event: heard.append((event.action, event.place, "package" in vars(event))), app=app)
    publish(world["owner"], "acme", "pkg-public", "1.3.0")
    repository = world["repos"]["public"]
    assert heard == [("published", PackagePlace("npm", repository.id, "acme/repo-public", repository.owner_id,
                                                "organization"), False)]
    events = []
    subscribe(events.append, app=app)
    publish(world["owner"], "acme", "pkg-public", "1.4.0")
    assert (events[0].package.name, events[0].version.version, events[0].repository) == (
        "pkg-public", "1.4.0", "acme/repo-public")


def test_a_subscriber_that_fails_does_not_undo_the_change(world, app):
    def broken(event):
        raise RuntimeError("webhook down")
    subscribe(broken, app=app)
    publish(world["owner"], "acme", "pkg-public", "1.2.0")
    assert service.find_version(service.find_package("acme", "npm", "pkg-public"), "1.2.0") is not None


def test_an_organization_member_is_no_reader_of_private_repositories(world):
    member = create_user("member")
    add_member(world["repos"]["private"].owner, member)
    assert names(list_packages(actor_of(member), owner="acme")) == {"pkg-public", "pkg-internal"}


# ---- search -------------------------------------------------------------------------------------------


def found(actor, text, **options) -> list[str]:
    return [p.name for p in service.search_packages(actor, "nuget", text, **options).packages]


@pytest.fixture
def searchable(world):
    """NuGet packages of acme's public repository, each holding 'json' in one place."""
    writer = world["owner"]
    for name, metadata in (("Authored", {"authors": "Jason Json-Smith"}),
                           ("Described", {"description": "reads json quickly"}),
                           ("Tagged", {"tags": ["json", "parser"]}),
                           ("Titled", {"title": "The Json Toolkit"}),
                           ("JsonKit", {}), ("Json", {}), ("Unrelated", {"description": "yaml"})):
        publish(writer, "acme", name, fmt="nuget", repository="repo-public", metadata=metadata)
    publish(writer, "acme", "JsonPrivate", fmt="nuget", repository="repo-private")
    return world


def test_search_ranks_exact_name_then_name_title_tags_description_authors(searchable):
    assert found(searchable["stranger"], "json") == [
        "Json", "JsonKit", "Titled", "Tagged", "Described", "Authored"]


def test_search_words_must_all_match_and_wildcards_are_literal(searchable):
    assert found(searchable["stranger"], "JSON parser") == ["Tagged"]
    assert found(searchable["stranger"], "json%") == []
    assert found(searchable["stranger"], "_son") == []
    assert found(searchable["stranger"], "")[-1] == "Authored"  # newest change first without words


def test_search_applies_permission_in_the_query_and_counts_every_page(searchable):
    assert "JsonPrivate" not in found(searchable["stranger"], "json")
    assert "JsonPrivate" not in found(ANONYMOUS, "json")
    assert "JsonPrivate" in found(searchable["reader"], "json")
    hits = service.search_packages(searchable["reader"], "nuget", "json", limit=2, offset=2)
    assert hits.total == 7 and len(hits.packages) == 2
    assert found(searchable["stranger"], "json", owner="acme") == found(searchable["stranger"], "json")
    with pytest.raises(AccessDenied):
        service.search_packages(searchable["stranger"], "nuget", "json", owner="nobody")


def test_search_reads_the_newest_live_version(searchable):
    writer = searchable["owner"]
    publish(writer, "acme", "Evolving", fmt="nuget", repository="repo-public", metadata={"tags": ["json"]})
    second = publish(writer, "acme", "Evolving", "2.0.0", fmt="nuget", repository="repo-public",
                     metadata={"tags": ["yaml"]})
    assert "Evolving" not in found(writer, "json")
    service.delete_version(writer, second)
    assert "Evolving" in found(writer, "json")


def test_maintainers_are_the_repository_admins(world):
    repo = world["repos"]["public"]
    admin = create_user("keeper")
    grant(repo, admin, "admin")
    grant(repo, create_user("helper"), "write")
    package = service.find_package("acme", "npm", "pkg-public")
    assert service.package_maintainers(package) == ["acme-owner", "keeper"]


# ---- what registries render from --------------------------------------------------------------------


def test_a_registry_reads_the_same_views_as_every_face_with_the_main_files_digests(world):
    owner = world["owner"]
    tarball = b"a tarball npm published"
    service.publish_version(
        owner, owner_login="acme", fmt="npm", name="pkg-public",
        draft=VersionDraft("1.1.0", {"name": "pkg-public", "version": "1.1.0"}),
        uploads=[FileUpload("pkg-public-1.1.0.tgz", [tarball], algorithms=("sha1", "sha512"))],
        repository_name="repo-public", default_repository_name="pkg-public", tags=["next", "beta"])
    gone = publish(owner, "acme", "pkg-public", "1.2.0", repository="repo-public", tags=["latest"])
    service.record_download(gone, count=4)
    service.delete_version(owner, gone)
    row = service.find_package("acme", "npm", "pkg-public")

    with Queries() as queries:
        versions = service.live_version_views([row])[row.id]
    assert queries.count == 1  # the versions with their files, tags, publishers and their package's details
    package = get_package(owner, "acme", "npm", "pkg-public")
    assert versions == [get_version(owner, package, version=v) for v in ("1.0.0", "1.1.0")]
    assert versions[1].package.tags == {"beta": "1.1.0", "next": "1.1.0"} and versions[1].tags == ["beta", "next"]
    # The main file as registries need it: npm's shasum and integrity come from its digests.
    main = versions[1].main_file
    assert (main.sha256, main.sha1, main.sha512) == (hashlib.sha256(tarball).hexdigest(),
                                                     hashlib.sha1(tarball).hexdigest(),
                                                     hashlib.sha512(tarball).hexdigest())
    assert (versions[0].main_file.sha1, versions[0].main_file.sha512) == (None, None)  # only the sha256 kept

    with Queries() as queries:
        everything = service.all_version_views(row)
    assert queries.count == 1
    assert [(v.version, v.deleted_at is not None) for v in everything] == [
        ("1.0.0", False), ("1.1.0", False), ("1.2.0", True)]
    assert everything[2] == get_version(owner, package, version="1.2.0")  # deleted: seen by who may restore it


def test_search_hits_newest_versions_are_the_read_models(world):
    owner = world["owner"]
    publish(owner, "acme", "pkg-public", "1.1.0", repository="repo-public",
            metadata={"name": "pkg-public", "description": "newer"})
    hits = service.search_packages(owner, "npm", "pkg")
    with Queries() as queries:
        newest = service.newest_version_views(hits)
    assert queries.count == 1
    assert [(v.package.name, v.version) for v in newest] == [(p.name, p.latest.version) for p in hits.packages]
    assert {v.package.name: v.version for v in newest}["pkg-public"] == "1.1.0"
    assert newest == [get_version(owner, get_package(owner, "acme", "npm", v.package.name), version=v.version)
                      for v in newest]
    assert newest[[p.name for p in hits.packages].index("pkg-public")].metadata["description"] == "newer"
    assert service.newest_version_views(service.search_packages(owner, "npm", "nothing-matches")) == []


@pytest.mark.parametrize(("fmt", "metadata", "readme", "description", "source", "dependencies"), [
    ("npm", {"description": "short", "repository": {"url": "git+https://example.com/a.git"},
             "dependencies": {"left-pad": "^1.0.0"}, "devDependencies": {"tap": "~2.0"}},
     "# Hello", "# Hello", "https://example.com/a.git",
     [Dependency("left-pad", "^1.0.0", "runtime"), Dependency("tap", "~2.0", "dev")]),
    ("rubygems", {"description": "a gem", "homepage": "http://example.com/gem",
                  "dependencies": [{"name": "rake", "requirements": [[">=", "1.0"]], "type": "development"}]},
     None, "a gem", "http://example.com/gem", [Dependency("rake", ">= 1.0", "development")]),
    ("maven", {"artifactId": "hello"}, None, "hello 1.0.0", None, []),
])
def test_what_pages_show_of_a_version_is_decoded_when_asked_for(world, fmt, metadata, readme, description,
                                                                source, dependencies):
    service.publish_version(
        world["owner"], owner_login="acme", fmt=fmt, name="hello",
        draft=VersionDraft("1.0.0", metadata, summary="hello 1.0.0", readme=readme),
        uploads=[FileUpload("hello-1.0.0.jar", [b"hello"])], repository_name="repo-public",
        default_repository_name="hello")
    view = get_version(ANONYMOUS, get_package(ANONYMOUS, "acme", fmt, "hello"), version="1.0.0")
    assert (view.description, view.source_url, view.dependencies) == (description, source, dependencies)

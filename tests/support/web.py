"""Driving the pages in-process: the CSRF token of a page's form and signing a test client in."""
from __future__ import annotations

import re

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def post_form(client, page: str, action: str | None = None, **fields):
    """POST `fields` to the form of `page` (to `action`, default the page itself) with its CSRF token."""
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(action or page, data={"csrf_token": token, **fields})


def sign_in(client, login: str, password: str | None = None, next_path: str | None = None):
    page = "/login" + (f"?next={next_path}" if next_path else "")
    fields = {"login": login, "password": password or f"{login}-password"}
    if next_path:
        fields["next"] = next_path
    return post_form(client, page, "/login", **fields)


def sign_in_session(client, account) -> None:
    """Make `client` a signed-in browser session of `account` without the password round trip (the
    session's user id carries the account's session epoch, as a real sign-in writes it)."""
    with client.session_transaction() as session:
        session["_user_id"] = f"{account.id}:{account.session_epoch}"
        session["_fresh"] = True


def publish(publisher: str, owner: str, repository: str, name: str, version: str, *, fmt: str = "npm",
            metadata: dict | None = None, readme: str | None = None, summary: str = "", license: str | None = None,
            tags: tuple[str, ...] = (), files: dict[str, bytes] | None = None):
    """Publish a version through the packages service as `publisher` would from a client (in an
    application context); returns its PackageVersion."""
    from appliance import packages as service
    from appliance.accounts.service import get_account
    from appliance.auth.permissions import Actor
    from appliance.packages import FileUpload, VersionDraft

    files = files or {f"{name.rsplit('/', 1)[-1]}-{version}.tgz": f"{name}@{version}".encode()}
    return service.publish_version(
        Actor(user=get_account(publisher)), owner_login=owner, fmt=fmt, name=name,
        draft=VersionDraft(version=version, metadata=metadata or {}, summary=summary, readme=readme, license=license),
        uploads=[FileUpload(name=file_name, chunks=[content]) for file_name, content in files.items()],
        repository_name=repository, default_repository_name=repository, tags=tags)

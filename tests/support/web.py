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

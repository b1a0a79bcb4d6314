"""The rendered rows of package lists are kept by what they show (listings.ROWS, keyed by row_fields):
whatever the row template shows must be in the key, or a change to it would not reach the page."""
from __future__ import annotations

import dataclasses
import datetime as dt

from flask import current_app

from appliance.packages import OwnerView, PackageView, RepositoryView
from appliance.web.listings import package_row

OWNER = OwnerView(id=1, login="acme", kind="organization")
PACKAGE = PackageView(
    id=7, owner=OWNER, repository=RepositoryView(id=3, owner=OWNER, name="libs", full_name="acme/libs",
                                                 visibility="private"),
    format="npm", name="@acme/left-pad", created_at=dt.datetime(2026, 1, 2, 3, 4),
    updated_at=dt.datetime(2026, 5, 6, 7, 8), deleted_at=None, latest_version="1.2.3", version_count=4,
    downloads_total=1234, tags={"latest": "1.2.3"})


def fresh(package: PackageView) -> str:
    return current_app.jinja_env.get_template("web/partials/package_row.html").render(package=package)


def variations(package: PackageView):
    """(field path, the package with that one field changed) for every field, nested ones included."""
    changed = {int: lambda v: v + 1, str: lambda v: v + "x", dt.datetime: lambda v: v + dt.timedelta(days=1),
               dict: lambda v: {**v, "next": "9.9.9"}, type(None): lambda v: dt.datetime(2026, 1, 1)}
    for f in dataclasses.fields(package):
        value = getattr(package, f.name)
        if f.name == "owner":
            for g in dataclasses.fields(value):
                owner = dataclasses.replace(value, **{g.name: changed[type(getattr(value, g.name))](getattr(value, g.name))})
                yield f"owner.{g.name}", dataclasses.replace(
                    package, owner=owner, repository=dataclasses.replace(package.repository, owner=owner))
        elif f.name == "repository":
            for g in dataclasses.fields(value):
                if g.name != "owner":
                    repository = dataclasses.replace(
                        value, **{g.name: changed[type(getattr(value, g.name))](getattr(value, g.name))})
                    yield f"repository.{g.name}", dataclasses.replace(package, repository=repository)
        else:
            yield f.name, dataclasses.replace(package, **{f.name: changed[type(value)](value)})


def test_a_row_shows_the_package(app):
    with app.test_request_context():
        row = str(package_row(PACKAGE))
    assert 'href="/orgs/acme/packages/npm/package/@acme%2Fleft-pad"' in row
    assert "acme/libs" in row and "private" in row and "1.2.3" in row and "1,234 downloads" in row
    assert "2026-05-06 07:08 UTC" in row


def test_every_field_a_row_shows_is_in_its_key(app):
    """Change each field of the view in turn: where the row rendered afresh differs, the kept row must
    differ too (the field is in row_fields), else the page would show the old value."""
    with app.test_request_context():
        original = str(package_row(PACKAGE))
        shown = []
        for path, package in variations(PACKAGE):
            if fresh(package) != original:
                shown.append(path)
                assert str(package_row(package)) == fresh(package), path
        assert {"name", "downloads_total", "latest_version", "updated_at", "repository.visibility"} <= set(shown)

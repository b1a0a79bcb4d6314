from __future__ import annotations

import pytest

from appliance import create_app
from appliance.accounts.service import add_member, create_organization, create_repository, create_user


@pytest.fixture
def app(bootstrap):
    """A fresh application context per request, as under gunicorn (see tests/unit/web/conftest.py)."""
    app = create_app(bootstrap)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def people(app):
    """The actors of the permission matrix: a site admin, an organization owner, a user."""
    with app.app_context():
        root = create_user("root", password="root-password", site_admin=True)
        olivia = create_user("olivia", password="olivia-password")
        create_user("ursula", password="ursula-password", email="ursula@example.com")
        acme = create_organization("acme", olivia)
        add_member(acme, root, "member")
        create_repository(acme, "widgets", "private")
    return {"root": root}

from __future__ import annotations

import pytest

from appliance import create_app
from appliance.db import open_database
from appliance.migrate import migrate
from appliance.settings import Bootstrap


@pytest.fixture
def bootstrap(tmp_path):
    """A fresh embedded-default appliance home with the schema at head."""
    boot = Bootstrap.embedded_default(tmp_path / "home")
    boot.storage_path.mkdir(parents=True)
    boot.write()
    db = open_database(boot.database_url)
    migrate(db)
    yield boot
    db.close()


@pytest.fixture
def app(bootstrap):
    app = create_app(bootstrap)
    app.config["TESTING"] = True
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()

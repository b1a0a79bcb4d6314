from __future__ import annotations

import pytest

from appliance import create_app
from appliance.db import open_database
from appliance.migrate import migrate
from tests.support.databases import bootstrap_for_tests, drop_database


def pytest_addoption(parser):
    parser.addoption("--screenshots", default=None,
                     help="directory for the browser tests' screenshots (default: BASETEMP/screenshots)")


def pytest_make_parametrize_id(config, val, argname):
    """Bytes parameters are named by their length: pytest would name them by their content, and gzip
    writes the time into what it compresses, so two xdist workers collecting a second apart named the
    same test differently and the run stopped ("Different tests were collected")."""
    if isinstance(val, bytes | bytearray):
        return f"{argname}-{len(val)}-bytes"
    return None


@pytest.fixture
def bootstrap(tmp_path):
    """A fresh appliance home with the schema at head: SQLite and local disk, or a database of its own
    on PostgreSQL with APPLIANCE_TEST_DATABASE=postgresql (tests/support/databases.py)."""
    boot = bootstrap_for_tests(tmp_path / "home")
    boot.storage_path.mkdir(parents=True)
    boot.write()
    db = open_database(boot.database_url)
    migrate(db)
    yield boot
    getattr(db, "close_all", db.close)()
    drop_database(boot.database_url)


@pytest.fixture
def app(bootstrap):
    app = create_app(bootstrap)
    app.config["TESTING"] = True
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()

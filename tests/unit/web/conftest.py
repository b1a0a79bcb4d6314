from __future__ import annotations

import pytest

from appliance import create_app


@pytest.fixture
def app(bootstrap):
    """Pages need an application context per request, as under gunicorn: one held open across requests
    would keep `g` (and the CSRF token flask-wtf caches there) from one test client to the next."""
    app = create_app(bootstrap)
    app.config["TESTING"] = True
    return app

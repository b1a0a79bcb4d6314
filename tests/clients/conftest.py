"""Fixtures for tests that drive the real package clients against the appliance under gunicorn."""
from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from tests.support.browser import browser, browser_session, screenshots_dir  # noqa: F401 - fixtures
from tests.support.live import LiveAppliance


def require_client(command: str) -> str:
    """The path of a client; on CI a missing client fails the run instead of skipping."""
    path = shutil.which(command)
    if path is None:
        message = f"{command} is not installed: scripts/install-test-deps.sh installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_module(name: str) -> None:
    """A Python client library from the test extras; on CI a missing one fails the run."""
    if importlib.util.find_spec(name) is None:
        message = f"the Python package {name} is not installed: scripts/install-test-deps.sh installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One running appliance per test module, path layout (`/_registry/FMT/`) on 127.0.0.1."""
    appliance = LiveAppliance(tmp_path_factory.mktemp("appliance") / "home")
    appliance.set("hostname", "127.0.0.1")
    appliance.set("subdomain_isolation", False)
    appliance.start()
    yield appliance
    appliance.stop()

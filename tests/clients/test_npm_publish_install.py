"""`npm publish` then `npm install` into a fresh project, with the real npm client."""
from __future__ import annotations

import json

import pytest

from tests.clients.conftest import require_client
from tests.support.npm import Npm


@pytest.fixture(scope="module", autouse=True)
def _npm_installed():
    require_client("npm")


@pytest.fixture(scope="module")
def alice(live):
    live.user("alice")
    live.repo("alice/hello")
    return live.token("alice", "read:packages,write:packages,delete:packages,repo")


def registry(live) -> str:
    return f"{live.origin}/_registry/npm/"


def test_publish_then_install_in_a_fresh_project(live, alice, tmp_path):
    author = Npm(tmp_path / "author", registry(live), "alice", alice)
    author.write_package("@alice/hello", "1.0.0", description="says hello", license="MIT")
    published = author.run("publish")
    assert published.returncode == 0, published.output
    assert "+ @alice/hello@1.0.0" in published.stdout

    consumer = Npm(tmp_path / "consumer", registry(live), "alice", alice)
    (consumer.workdir / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0"}))
    installed = consumer.run("install", "@alice/hello@1.0.0")
    assert installed.returncode == 0, installed.output
    module = consumer.workdir / "node_modules" / "@alice" / "hello"
    assert (module / "index.js").read_text() == 'module.exports = "@alice/hello@1.0.0";\n'
    lock = json.loads((consumer.workdir / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/@alice/hello"]
    assert entry["resolved"] == f"{registry(live)}@alice/hello/-/hello-1.0.0.tgz"
    assert entry["integrity"].startswith("sha512-")

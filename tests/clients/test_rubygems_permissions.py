"""RubyGems permissions through gunicorn with the real gem and bundle: the cells they can express (install,
bundle install, push, yank) for the actors of DESIGN.md's table, and a sample of the HTTP matrix whose
every cell runs in-process in tests/unit/formats/rubygems/test_permissions.py, with the same GemWorld."""
from __future__ import annotations

import pytest
import requests

from tests.clients.conftest import require_client
from tests.support.permission_matrix import arrange_actors
from tests.support.rubygems import RubyClients, gem_bytes
from tests.unit.formats.rubygems.test_permissions import CELLS, GemWorld, full_name, run_cell


@pytest.fixture(scope="module")
def world(live) -> GemWorld:
    """The in-process matrix's organization, users and tokens, arranged in the running appliance's database."""
    with live.db():
        tokens = arrange_actors()
    return GemWorld(tokens, live.bootstrap.storage_path, live.db, requests.Session(), live.origin)


# A sample of the in-process matrix through the server: every endpoint on a private repository, for the
# actors whose answers differ most (challenge, scope, role, job token elsewhere, allowed), with
# anonymous_read off for anonymous callers only (the one row it changes).
SAMPLE_ACTORS = ("anonymous", "read-token", "collab-write", "job-other", "collab-admin", "expired")
SAMPLE = [cell for cell in CELLS
          if cell.values[1] in SAMPLE_ACTORS and cell.values[2] == "private"
          and (cell.values[0] or cell.values[1] == "anonymous")]


@pytest.mark.parametrize(("on", "actor", "visibility", "endpoint", "code"), SAMPLE)
def test_matrix_sample(world, on, actor, visibility, endpoint, code):
    run_cell(world, on, actor, visibility, endpoint, code)


# ---- the real clients, for the cells they can express ------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _clients_installed():
    for command in ("gem", "bundle"):
        require_client(command)


def install(world: GemWorld, clients: RubyClients, name: str, token: str | None) -> bool:
    credentials = f"maint:{token}@" if token else ""
    source = world.gem_source.replace("http://", f"http://{credentials}") + "/"
    done = clients.install(name, source)
    return done.returncode == 0 and clients.installed() == [f"{name}-1.0.0"]


@pytest.mark.parametrize(("actor", "visibility", "allowed"), [
    ("read-token", "private", True), ("collab-read", "internal", True), ("anonymous", "public", True),
    ("no-scopes", "private", False), ("stranger", "private", False), ("anonymous", "private", False),
    ("job-other", "private", False), ("revoked", "public", False),
])
def test_gem_install(world, tmp_path, actor, visibility, allowed):
    assert install(world, RubyClients(tmp_path / "c"), world.shared_gems[visibility],
                   world.token(actor, visibility)) is allowed


@pytest.mark.parametrize(("actor", "visibility", "allowed"), [
    ("read-token", "private", True), ("stranger", "private", False), ("no-scopes", "public", False),
])
def test_bundle_install(world, tmp_path, actor, visibility, allowed):
    clients = RubyClients(tmp_path / "c")
    name = world.shared_gems[visibility]
    done = clients.bundle_install(f"{world.gem_source}/", {name: "1.0.0"},
                                  env={"BUNDLE_127__0__0__1": f"maint:{world.token(actor, visibility)}"})
    assert (done.returncode == 0) is allowed, done.output
    assert clients.installed() == ([f"{name}-1.0.0"] if allowed else [])


@pytest.mark.parametrize(("actor", "printed"), [
    ("read-token", "this token lacks the scope for this: it needs write:packages"),
    ("collab-read", "needs write access to acme/perm-private to publish to it"),
    ("stranger", "names the repository acme/perm-private, which does not exist"),
    ("write-token", "Successfully registered gem"),
])
def test_gem_push(world, tmp_path, actor, printed):
    clients = RubyClients(tmp_path / "c")
    name = world.fresh_gem("private")
    gem = tmp_path / f"{name}-2.0.0.gem"
    gem.write_bytes(gem_bytes(name, "2.0.0", metadata={"github_repo": full_name("private")}))
    done = clients.push(gem, world.gem_source, world.token(actor, "private"))
    assert printed in done.output, done.output
    assert ("2.0.0" in world.gem_state(name)["versions"]) == printed.startswith("Successfully")


@pytest.mark.parametrize(("actor", "printed"), [
    ("write-token", "it needs delete:packages, read:packages and repo"),
    ("collab-write", "needs admin access to acme/perm-private to delete packages of it"),
    ("delete-token", "Successfully deleted gem"),
])
def test_gem_yank(world, tmp_path, actor, printed):
    clients = RubyClients(tmp_path / "c")
    name = world.fresh_gem("private")
    done = clients.run("gem", "yank", name, "-v", "1.1.0", "--host", world.gem_source,
                       env={"GEM_HOST_API_KEY": world.token(actor, "private")})
    assert printed in done.output, done.output
    assert world.gem_state(name)["versions"]["1.1.0"] is not printed.startswith("Successfully")

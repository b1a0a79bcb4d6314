"""npm permissions through gunicorn with the real npm client: the cells npm can express (view, install,
publish, unpublish) for the actors of DESIGN.md's table, and a sample of the HTTP matrix whose every cell
runs in-process in tests/unit/formats/npm/test_permissions.py, with the same World."""
from __future__ import annotations

import json

import pytest
import requests

from tests.clients.conftest import require_client
from tests.support.npm import Npm
from tests.unit.formats.npm.test_permissions import (
    CELLS,
    ORG,
    REPOSITORIES,
    World,
    run_cell,
)


@pytest.fixture(scope="module")
def world(live) -> World:
    return World(live, requests.Session(), f"{live.origin}/_registry/npm/")


# A sample of the in-process matrix through the server: every endpoint on a private repository, for the
# actors whose answers differ most (challenge, scope, role, job token elsewhere, allowed), with
# anonymous_read off for anonymous callers only (the one row it changes).
SAMPLE_ACTORS = ("anonymous", "read-token", "collab-write", "job-other", "collab-admin", "expired")
SAMPLE = [cell for cell in CELLS
          if cell.values[1] in SAMPLE_ACTORS and cell.values[2] == "private"
          and (cell.values[0] or cell.values[1] == "anonymous")]


@pytest.mark.parametrize(("on", "actor", "visibility", "endpoint", "code"), SAMPLE)
def test_matrix_sample(live, world, on, actor, visibility, endpoint, code):
    run_cell(live, world, on, actor, visibility, endpoint, code)


# ---- the real npm client ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def npm_client():
    require_client("npm")


# command, actor, visibility, then what npm ends with: ok, or its error code and the phrase of the line
# that says why. view and install read @acme/shared-VISIBILITY@1.0.0; publish publishes 2.0.0 of a package
# with 1.0.0 and 1.1.0; unpublish removes 1.1.0 of such a package.
NPM_MATRIX = """
view       anonymous      public    ok
view       anonymous      private   E401       Unable to authenticate, need: Token realm="npm"
view       no-scopes      private   E403       this token lacks the scope for this: it needs read:packages
view       read-token     private   ok
view       write-token    private   ok
view       delete-token   private   ok
view       stranger       private   E404       not found
view       stranger       internal  ok
view       job-own        private   ok
view       job-other      private   E404       not found
view       expired        private   E401       Unable to authenticate, need: Token realm="npm"
view       revoked        private   E401       Unable to authenticate, need: Token realm="npm"
view       suspended      private   E401       Unable to authenticate, need: Token realm="npm"
install    anonymous      public    ok
install    anonymous      private   E401       Unable to authenticate, need: Token realm="npm"
install    no-scopes      private   E403       this token lacks the scope for this: it needs read:packages
install    read-token     private   ok
install    write-token    private   ok
install    delete-token   private   ok
install    stranger       private   E404       not found
install    stranger       internal  ok
install    job-own        private   ok
install    job-other      private   E404       not found
install    expired        private   E401       Unable to authenticate, need: Token realm="npm"
install    revoked        private   E401       Unable to authenticate, need: Token realm="npm"
install    suspended      private   E401       Unable to authenticate, need: Token realm="npm"
publish    anonymous      public    ENEEDAUTH  This command requires you to be logged in
publish    no-scopes      private   E403       this token lacks the scope for this: it needs write:packages
publish    read-token     private   E403       this token lacks the scope for this: it needs write:packages
publish    write-token    private   ok
publish    delete-token   private   E403       this token lacks the scope for this: it needs write:packages
publish    collab-read    private   E403       reader needs write access to acme/perm-private to publish to it
publish    stranger       public    E403       stranger needs write access to acme/perm-public to publish to it
publish    stranger       private   E400       the package names the repository acme/perm-private, which does not exist
publish    job-own        private   ok
publish    job-other      private   E400       the package names the repository acme/perm-private, which does not exist
publish    job-other      internal  E403       this token acts on acme/perm-elsewhere only
publish    expired        private   E401       Unable to authenticate, need: Token realm="npm"
publish    revoked        private   E401       Unable to authenticate, need: Token realm="npm"
publish    suspended      private   E401       Unable to authenticate, need: Token realm="npm"
unpublish  anonymous      public    E401       Unable to authenticate, need: Token realm="npm"
unpublish  no-scopes      private   E403       this token lacks the scope for this: it needs read:packages
unpublish  read-token     private   E403       it needs delete:packages, read:packages and repo
unpublish  write-token    private   E403       it needs delete:packages, read:packages and repo
unpublish  delete-token   private   ok
unpublish  collab-write   private   E403       writer needs admin access to acme/perm-private
unpublish  collab-admin   private   ok
unpublish  stranger       private   E404       not found
unpublish  job-own        private   ok
unpublish  job-other      private   E404       not found
unpublish  job-other      public    E403       this token acts on acme/perm-elsewhere only
unpublish  expired        private   E401       Unable to authenticate, need: Token realm="npm"
unpublish  revoked        private   E401       Unable to authenticate, need: Token realm="npm"
unpublish  suspended      private   E401       Unable to authenticate, need: Token realm="npm"
"""
NPM_CELLS = [line.split(maxsplit=4) for line in NPM_MATRIX.strip().splitlines()]


@pytest.mark.parametrize(("command", "actor", "visibility", "outcome", *("printed",)),
                         [pytest.param(*cell, *([""] * (5 - len(cell))), id="-".join(cell[:3]))
                          for cell in NPM_CELLS])
def test_npm_client(live, world, npm_client, tmp_path, command, actor, visibility, outcome, printed):
    npm = Npm(tmp_path / "project", world.registry, ORG, world.token(actor, visibility))
    if command in ("view", "install"):
        name = world.shared[visibility]
        if command == "view":
            result = npm.run("view", f"{name}@1.0.0", "version")
        else:
            (npm.workdir / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0"}))
            result = npm.run("install", f"{name}@1.0.0")
        installed = npm.workdir / "node_modules" / name / "package.json"
        if outcome == "ok":
            assert result.returncode == 0, result.output
            if command == "view":
                assert result.stdout.strip() == "1.0.0"
            else:
                assert json.loads(installed.read_text())["version"] == "1.0.0"
        else:
            assert not installed.exists()
    else:
        name = world.fresh_package(visibility)
        before = world.snapshot(name)
        if command == "publish":
            npm.write_package(name, "2.0.0", repository=REPOSITORIES[visibility])
            result = npm.run("publish")
        else:
            result = npm.run("unpublish", f"{name}@1.1.0")
        state = world.package_state(name)
        if outcome == "ok":
            assert result.returncode == 0, result.output
            live_versions = {v for v, (is_live, _) in state["versions"].items() if is_live}
            if command == "publish":
                assert f"+ {name}@2.0.0" in result.stdout
                assert live_versions == {"1.0.0", "1.1.0", "2.0.0"}
            else:
                assert f"- {name}@1.1.0" in result.stdout
                assert live_versions == {"1.0.0"} and state["tags"] == {"latest": "1.0.0", "beta": "1.0.0"}
        else:
            # Refused: nothing stored, nothing deleted.
            assert world.snapshot(name) == before
    if outcome != "ok":
        assert result.returncode != 0, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("npm error")]
        assert f"npm error code {outcome}" in errors, result.stderr
        assert any(printed in line for line in errors), result.stderr

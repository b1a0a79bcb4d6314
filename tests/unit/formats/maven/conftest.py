from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.accounts.service import create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.settings import store_setting
from tests.support.maven_http import Footprint, basic, footprint

FULL_SCOPES = ["read:packages", "write:packages", "delete:packages", "repo"]


@dataclass
class Registry:
    """The maven registry of the in-process app, path layout, as alice (owner of alice/libs)."""

    client: object
    token: str
    storage_root: Path
    repository: str = "alice/libs"
    host: str = "localhost"
    prefix: str = "/_registry/maven"

    def url(self, path: str, repository: str | None = None) -> str:
        return f"{self.prefix}/{repository or self.repository}/{path}"

    def _headers(self, auth, headers):
        merged = dict(headers or {})
        if auth is True:
            merged.update(basic("alice", self.token))
        elif auth:
            merged.update(auth)
        merged.setdefault("Host", self.host)
        return merged

    def put(self, path: str, data: bytes, *, auth=True, headers=None, repository=None):
        return self.client.put(self.url(path, repository), data=data, headers=self._headers(auth, headers))

    def get(self, path: str, *, auth=True, headers=None, repository=None):
        return self.client.get(self.url(path, repository), headers=self._headers(auth, headers))

    def head(self, path: str, *, auth=True, headers=None, repository=None):
        return self.client.head(self.url(path, repository), headers=self._headers(auth, headers))

    def delete(self, path: str, *, auth=True, headers=None, repository=None):
        return self.client.delete(self.url(path, repository), headers=self._headers(auth, headers))

    def footprint(self) -> Footprint:
        return footprint(self.storage_root)


@pytest.fixture
def registry(app, client, bootstrap) -> Registry:
    store_setting("hostname", "localhost")
    store_setting("subdomain_isolation", False)
    alice = create_user("alice")
    create_repository(alice, "libs")
    create_repository(alice, "other")
    _, token = issue_token(alice, FULL_SCOPES)
    return Registry(client, token, bootstrap.storage_path)

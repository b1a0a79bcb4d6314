from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.accounts.service import create_repository, create_user
from appliance.auth.tokens import issue_token
from appliance.models import Blob, BlobUpload, Package, PackageFile, PackageVersion, StagedBlob
from appliance.settings import store_setting
from tests.support.oci import Image, digest_of

FULL_SCOPES = ["read:packages", "write:packages", "delete:packages", "repo"]
HOSTNAME = "appliance.test"


def basic(user: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Registry:
    """The Docker registry of the in-process app on docker.appliance.test, as alice (owner of alice/libs)
    with a token sent directly (HTTP Basic) unless a test says otherwise."""

    client: object
    token: str
    storage_root: Path
    image: str = "alice/libs/app"

    def request(self, method: str, path: str, *, auth=True, headers=None, **kwargs):
        merged = dict(headers or {})
        if auth is True:
            merged.update(basic("alice", self.token))
        elif auth:
            merged.update(auth)
        merged.setdefault("Host", f"docker.{HOSTNAME}")
        return self.client.open(path, method=method, headers=merged, **kwargs)

    def push_blob(self, data: bytes, image: str | None = None, **kwargs):
        return self.request("POST", f"/v2/{image or self.image}/blobs/uploads/?digest={digest_of(data)}",
                            data=data, **kwargs)

    def put_manifest(self, reference: str, body: bytes, media_type: str, image: str | None = None, **kwargs):
        return self.request("PUT", f"/v2/{image or self.image}/manifests/{reference}", data=body,
                            headers={"Content-Type": media_type, **kwargs.pop("headers", {})}, **kwargs)

    def push_image(self, image_: Image, reference: str, image: str | None = None):
        for blob in image_.blobs:
            assert self.push_blob(blob, image).status_code == 201
        response = self.put_manifest(reference, image_.manifest, image_.media_type, image)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.storage_root)) for p in self.storage_root.rglob("*") if p.is_file())

    def rows(self) -> tuple[int, ...]:
        return tuple(m.select().count() for m in (Package, PackageVersion, PackageFile, Blob, StagedBlob,
                                                   BlobUpload))


def error_code(response) -> str:
    return response.get_json()["errors"][0]["code"]


@pytest.fixture
def registry(app, client, bootstrap) -> Registry:
    store_setting("hostname", HOSTNAME)
    store_setting("subdomain_isolation", True)
    alice = create_user("alice")
    create_repository(alice, "libs")
    create_repository(alice, "other")
    _, token = issue_token(alice, FULL_SCOPES)
    return Registry(client, token, bootstrap.storage_path)

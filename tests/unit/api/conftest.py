"""Arranging packages for the API tests through the packages service, as a registry would."""
from __future__ import annotations

import pytest

from appliance import packages as service
from appliance.auth.permissions import Actor
from appliance.packages import FileUpload, VersionDraft


def publish(user, owner: str, fmt: str, name: str, version: str, repository: str, *,
            tags: tuple[str, ...] = (), summary: str = "") -> None:
    service.publish_version(
        Actor(user=user), owner_login=owner, fmt=fmt, name=name,
        draft=VersionDraft(version=version, metadata={}, summary=summary),
        uploads=[FileUpload(name=f"{name.rsplit('/', 1)[-1]}-{version}.tgz", chunks=[f"{name}@{version}".encode()])],
        repository_name=repository, default_repository_name=repository,
        tags=tags)


@pytest.fixture
def publish_as():
    return publish

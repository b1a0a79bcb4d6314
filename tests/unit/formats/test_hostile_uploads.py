"""Uploads the security review found answered with 500s before any permission check: each is now the
client's refusal (RubyGems 422 with one line, NuGet and Maven 400), whoever pushes, to whatever owner."""
from __future__ import annotations

import gzip

import pytest

from appliance.accounts.service import create_user
from appliance.auth.tokens import issue_token
from appliance.settings import store_setting
from tests.support.nuget import multipart, nupkg_bytes, nuspec_xml
from tests.support.rubygems import gem_members, gemspec_yaml, tar_of
from tests.unit.formats.nuget.test_metadata import _flag_every_entry_encrypted

HOSTNAME = "appliance.test"


@pytest.fixture
def mallory(app, client):
    """A user with write:packages and no repository anywhere."""
    store_setting("hostname", HOSTNAME)
    store_setting("subdomain_isolation", True)
    return issue_token(create_user("mallory"), ["read:packages", "write:packages"])[1]


def _gem(change: tuple[str, str] | None = None, checksums: bytes | None = None) -> bytes:
    members = gem_members(gemspec_yaml("demo", "1.0").replace(*change) if change else gemspec_yaml("demo", "1.0"))
    if checksums is not None:
        members["checksums.yaml.gz"] = gzip.compress(checksums)
    return tar_of(members)


BAD_GEMS = {
    "impossible date": _gem(("date: 2024-05-01 00:00:00.000000000 Z", "date: 2024-13-45")),
    "5000-digit specification_version": _gem(("specification_version: 4", "specification_version: " + "9" * 5000)),
    "bad date in checksums": _gem(checksums=b"---\nSHA256:\n  metadata.gz: 2024-13-45\n"),
}


@pytest.mark.parametrize("owner", ["mallory", "nobody-at-all"])
@pytest.mark.parametrize("gem", BAD_GEMS)
def test_rubygems_push_of_unreadable_yaml_is_422_in_one_line(client, mallory, owner, gem):
    response = client.post(f"/{owner}/api/v1/gems", data=BAD_GEMS[gem],
                           headers={"Host": f"rubygems.{HOSTNAME}", "Authorization": mallory})
    assert response.status_code == 422
    assert response.get_data(as_text=True).count("\n") == 1


BAD_NUPKGS = {
    "encrypted entries": _flag_every_entry_encrypted(nupkg_bytes("Demo", "1.0.0")),
    "nuspec encoding x-nope": nupkg_bytes("Demo", "1.0.0", nuspec=nuspec_xml("Demo", "1.0.0").replace(
        b'encoding="utf-8"', b'encoding="x-nope"')),
}


@pytest.mark.parametrize("owner", ["mallory", "nobody-at-all"])
@pytest.mark.parametrize("nupkg", BAD_NUPKGS)
def test_nuget_push_of_an_unreadable_package_is_400(client, mallory, owner, nupkg):
    body, content_type = multipart(BAD_NUPKGS[nupkg])
    response = client.put(f"/{owner}/api/v2/package", data=body, content_type=content_type,
                          headers={"Host": f"nuget.{HOSTNAME}", "X-NuGet-ApiKey": mallory})
    assert response.status_code == 400, response.get_data(as_text=True)

"""Which repository a package's metadata names: the spellings every format accepts."""
from __future__ import annotations

import pytest

from appliance.formats.repository_links import parse_repository_reference


@pytest.mark.parametrize(("reference", "expected"), [
    ("alice/lib", ("alice", "lib")),
    ("github:alice/lib", ("alice", "lib")),
    ("gitlab:alice/lib/", ("alice", "lib")),
    ("https://appliance.test/alice/lib", ("alice", "lib")),
    ("https://appliance.test/alice/lib.git", ("alice", "lib")),
    ("https://appliance.test/alice/lib/tree/main/packages/x", ("alice", "lib")),
    ("git+https://appliance.test/alice/lib.git#v1.0.0", ("alice", "lib")),
    ("git@appliance.test:alice/lib.git", ("alice", "lib")),
    ("git+ssh://git@appliance.test:alice/lib.git", ("alice", "lib")),
    ("ssh://git@appliance.test:22/alice/lib.git", ("alice", "lib")),
    ("  alice/lib  ", ("alice", "lib")),
    ("A.b_c-d/Repo.Name", ("A.b_c-d", "Repo.Name")),
])
def test_the_spellings_of_a_repository(reference, expected):
    assert parse_repository_reference(reference) == expected


@pytest.mark.parametrize("reference", [
    "", "lib", "not a repository", "ftp://appliance.test/alice/lib", "https:///alice/lib",
    "https://appliance.test/alice", "https://appliance.test/alice/lib/issues", "../lib", "alice/..",
    "https://appliance.test/alice/li b", "http://[::1/alice/lib", "alice/lib/extra",
])
def test_what_names_no_repository(reference):
    assert parse_repository_reference(reference) is None

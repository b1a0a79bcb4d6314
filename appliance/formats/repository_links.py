"""Reading which repository a package's metadata names (npm's package.json `repository`, a gemspec's
`source_code_uri`, ...): every format accepts the same spellings of a repository reference."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

_REPO_PART = re.compile(r"[A-Za-z0-9_.-]+")
_SHORTHAND = re.compile(r"(?:(?:github|gitlab|bitbucket):)?([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/?")
_SCP_LIKE = re.compile(r"[A-Za-z0-9_.+-]+@[A-Za-z0-9.-]+:(?!/)(.+)")
# 'git+ssh://git@host:owner/repo.git' is not a valid URL but is common, and npm reads it
_SSH_WITH_COLON_PATH = re.compile(r"(?:git\+)?ssh://(?:[^/@]+@)?[^/:@]+:(?![0-9]+(?:/|$))(.+)")
_URL_SCHEMES = frozenset({"http", "https", "git", "ssh", "git+https", "git+http", "git+ssh", "git+git"})
_PATH_TAILS = frozenset({"tree", "blob", "-"})


def parse_repository_reference(reference: str) -> tuple[str, str] | None:
    """A repository reference -> (owner, repo) on whatever host, or None if it names no repository we can read.

    Takes 'owner/repo', 'github:owner/repo', http(s)/git/ssh URLs and 'git@host:owner/repo.git', with
    '.git', '#ref' and '/tree/...' tails dropped.
    """
    url = reference.strip().partition("#")[0]  # '#ref' names a commit-ish, not the repository
    if match := _SHORTHAND.fullmatch(url):
        return _owner_and_repo(match.group(1))
    if match := _SCP_LIKE.fullmatch(url) or _SSH_WITH_COLON_PATH.fullmatch(url):
        return _owner_and_repo(match.group(1))
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _URL_SCHEMES or not parts.netloc:
        return None
    return _owner_and_repo(parts.path)


def _owner_and_repo(path: str) -> tuple[str, str] | None:
    segments = path.strip("/").split("/")
    if len(segments) < 2 or (len(segments) > 2 and segments[2] not in _PATH_TAILS):
        return None
    owner, repo = segments[0], segments[1].removesuffix(".git")
    for part in (owner, repo):
        if not _REPO_PART.fullmatch(part) or part in (".", ".."):
            return None
    return owner, repo

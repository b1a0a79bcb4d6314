"""Tokens of this appliance found in what is published, inside every archive shape the formats push."""
from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest

from appliance.packages import token_scan
from appliance.packages.token_scan import find_token

pytestmark = pytest.mark.usefixtures("app")  # a found token is looked up among the issued ones

TOKEN = "apt_" + "A1b2-C3d4_" * 4  # token-shaped: apt_ and 40 URL-safe characters


def tar_bytes(files: dict[str, bytes], gz: bool = True, tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar of `files`; a name ending in '/' is a directory, '-> TARGET' after a name a symlink."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w", format=tar_format) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name.split(" -> ")[0].rstrip("/"))
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
            elif " -> " in name:
                info.type, info.linkname = tarfile.SYMTYPE, name.split(" -> ")[1]
            else:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes], method=zipfile.ZIP_DEFLATED, stream: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            if stream:  # written as a stream: sizes in a data descriptor after the entry, as Java's jar does
                with archive.open(zipfile.ZipInfo(name), "w", force_zip64=False) as entry:
                    entry.write(data)
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


class Unseekable(io.RawIOBase):
    """A stream that can only be read forward, as an object store's may be."""

    def __init__(self, data: bytes):
        self.inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.inner.read(min(len(buffer), 1000))
        buffer[:len(data)] = data
        return len(data)


def scan(data: bytes, name: str = "pkg"):
    return find_token(Unseekable(data), name)


NPMRC = f"//localhost:8080/_registry/npm/:_authToken={TOKEN}\n".encode()
NUGET_CONFIG = f'<add key="ClearTextPassword" value="{TOKEN}" />'.encode()
FILLER = b"x" * 3_000_000  # spans chunks, so a token can sit across a chunk boundary


@pytest.mark.parametrize(("data", "path"), [
    (NPMRC, "pkg"),
    # a look-alike that runs into a longer word first does not hide the token after it
    (("xapt_" + TOKEN[4:] + " ").encode() + NPMRC, "pkg"),
    (FILLER[:1024 * 1024 - 10] + NPMRC, "pkg"),
    (tar_bytes({"package/package.json": b"{}", "package/.npmrc": NPMRC}), "pkg: package/.npmrc"),
    (zip_bytes({"Hello.nuspec": b"<x/>", "NuGet.Config": FILLER + NUGET_CONFIG}), "pkg: NuGet.Config"),
    (zip_bytes({"a.txt": FILLER, "META-INF/x.properties": NPMRC}, stream=True), "pkg: META-INF/x.properties"),
    (zip_bytes({"a.txt": b"a", "conf/token": NPMRC}, method=zipfile.ZIP_STORED), "pkg: conf/token"),
    # a .gem: a plain tar whose data.tar.gz is a tar.gz of the gem's files
    (tar_bytes({"metadata.gz": gzip.compress(b"--- {}"),
                "data.tar.gz": tar_bytes({"lib/x.rb": b"1", "config/.npmrc": NPMRC})}, gz=False),
     "pkg: data.tar.gz: config/.npmrc"),
    # a jar inside a zip
    (zip_bytes({"lib/inner.jar": zip_bytes({"secret.txt": NPMRC})}), "pkg: lib/inner.jar: secret.txt"),
    # tars as each tool writes long names (pax, GNU, ustar's prefix), past directories, links and a large member
    (tar_bytes({"package/" + "d" * 120 + "/.npmrc": NPMRC}), "pkg: package/" + "d" * 120 + "/.npmrc"),
    (tar_bytes({"package/" + "d" * 120 + "/.npmrc": NPMRC}, tar_format=tarfile.GNU_FORMAT),
     "pkg: package/" + "d" * 120 + "/.npmrc"),
    (tar_bytes({"package/" + "d" * 90 + "/x/.npmrc": NPMRC}, tar_format=tarfile.USTAR_FORMAT),
     "pkg: package/" + "d" * 90 + "/x/.npmrc"),
    (tar_bytes({"package/": b"", "package/link -> x": b"", "package/big.bin": FILLER + b"y",
                "package/.npmrc": NPMRC}, gz=False), "pkg: package/.npmrc"),
    # many small members: the last one is still read (and in linear time)
    (tar_bytes({**{f"package/f{n}.js": b"1" for n in range(5000)}, "package/.npmrc": NPMRC}),
     "pkg: package/.npmrc"),
    (zip_bytes({**{f"f{n}.txt": b"1" for n in range(5000)}, "conf/.npmrc": NPMRC}), "pkg: conf/.npmrc"),
])
def test_a_token_is_found_and_its_file_named(data, path):
    finding = scan(data)
    assert finding is not None and finding.path == path


@pytest.mark.parametrize("text", [
    TOKEN[:-1],  # too short
    TOKEN + "x",  # too long: not one of ours
    "xapt_" + TOKEN[4:],  # part of a longer word
    "apt_wrong",
])
def test_what_is_not_token_shaped_is_let_through(text):
    assert scan(text.encode()) is None
    assert scan(tar_bytes({"package/.npmrc": text.encode()})) is None


def test_an_issued_token_is_named_by_its_id(app):
    from appliance.accounts.service import create_user
    from appliance.auth.tokens import issue_token

    token, secret = issue_token(create_user("bob"), ["read:packages"])
    finding = scan(tar_bytes({"package/.npmrc": f"_authToken={secret}".encode()}))
    assert finding.token_id == token.id


def test_the_search_is_bounded(monkeypatch):
    monkeypatch.setattr(token_scan, "MAX_SCANNED_BYTES", 2_000_000)
    assert scan(FILLER + NPMRC) is None
    monkeypatch.setattr(token_scan, "MAX_MEMBERS", 2)
    assert scan(tar_bytes({"a": b"1", "b": b"2", "c": NPMRC})) is None


def test_a_broken_archive_ends_the_search_without_an_error():
    # The format's own parser refuses it; the search just stops.
    for broken in (tar_bytes({"package/.npmrc": b"x" * 5000})[:60], zip_bytes({"a": b"x" * 5000})[:70]):
        assert scan(broken + b"\0" * 100) is None

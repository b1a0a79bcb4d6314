"""The npm protocol module on bytes and dicts alone: no app, no database, no storage."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import io
import json
import random
import tarfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone

import pytest

from appliance.formats.npm.metadata import (
    MAX_DOCUMENT_TOKENS,
    MAX_SCANNED_MEMBERS,
    InvalidPackage,
    PublishRequest,
    VersionRecord,
    build_packument,
    integrity_of,
    is_valid_version,
    iso_time,
    parse_integrity,
    parse_package_name,
    parse_publish_document,
    repository_from_manifest,
    split_publish_body,
    tarball_filename,
    validate_version,
)

NAME = "@octo-org/hello-world"


# --- helpers ---------------------------------------------------------------------------------------


def make_tarball(package_json: dict, extra: dict[str, bytes] | None = None) -> bytes:
    """A real npm-style tarball: gzip'd tar with everything under package/."""
    files = {"package/package.json": json.dumps(package_json).encode(), **(extra or {})}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mtime = 499162500  # npm's fixed mtime, 1985-10-26
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def publish_document(
    tarball: bytes, *, name: str = NAME, version: str = "1.0.0", tag: str = "latest"
) -> dict:
    """What `npm publish` (libnpmpublish) sends for one version."""
    manifest = {
        "name": name,
        "version": version,
        "description": "Says hello",
        "main": "index.js",
        "scripts": {"test": 'echo "no test" && exit 1'},
        "repository": {"type": "git", "url": "git+https://github.com/octo-org/hello-world.git"},
        "license": "MIT",
        "dependencies": {"left-pad": "^1.3.0"},
        "readme": "# hello-world\n\nSays hello.\n",
        "readmeFilename": "README.md",
        "_id": f"{name}@{version}",
        "_nodeVersion": "20.11.0",
        "_npmVersion": "10.2.4",
        "_npmUser": {"name": "mallory"},
        "_hasShrinkwrap": False,
        "gitHead": "0123456789abcdef0123456789abcdef01234567",
        "dist": {
            "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode(),
            "shasum": hashlib.sha1(tarball).hexdigest(),
            "tarball": f"http://registry.example/{name}/-/{name}-{version}.tgz",
        },
    }
    return {
        "_id": name,
        "name": name,
        "description": "Says hello",
        "dist-tags": {tag: version},
        "versions": {version: manifest},
        "access": None,
        "_attachments": {
            f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(tarball).decode(),
                "length": len(tarball),
            }
        },
    }


def without_data(document: dict) -> dict:
    expected = copy.deepcopy(document)
    for attachment in expected.get("_attachments", {}).values():
        attachment.pop("data", None)
    return expected


class Sinks:
    """open_sink for tests: one BytesIO per attachment, and a record of the order they were opened in."""

    def __init__(self) -> None:
        self.files: dict[str, io.BytesIO] = {}

    def __call__(self, name: str) -> io.BytesIO:
        assert name not in self.files, f"sink for {name!r} opened twice"
        self.files[name] = io.BytesIO()
        return self.files[name]

    def data(self, name: str) -> bytes:
        return self.files[name].getvalue()


class TrickleStream:
    """A stream that hands out 1 to 7 bytes per read, to put chunk boundaries everywhere."""

    def __init__(self, body: bytes, seed: int = 7) -> None:
        self._body = body
        self._pos = 0
        self._random = random.Random(seed)

    def read(self, size: int = -1) -> bytes:
        step = self._random.randint(1, 7)
        chunk = self._body[self._pos : self._pos + step]
        self._pos += len(chunk)
        return chunk


def split(body: bytes, **kwargs) -> tuple[dict, Sinks]:
    sinks = Sinks()
    return split_publish_body(io.BytesIO(body), sinks, **kwargs), sinks


@pytest.fixture(scope="module")
def tarball() -> bytes:
    return make_tarball(
        {"name": NAME, "version": "1.0.0"},
        {
            "package/index.js": b"module.exports = () => 'hello'\n" * 200,
            "package/blob.bin": random.randbytes(5000),
        },
    )


# --- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("@octo-org/hello-world", ("octo-org", "hello-world")),
        ("@a/b", ("a", "b")),
        ("@jane/foo.js", ("jane", "foo.js")),
        ("@scope/under_score-1.2", ("scope", "under_score-1.2")),
        ("@scope/123numeric", ("scope", "123numeric")),
        ("@scope%2fpkg", ("scope", "pkg")),
        ("@scope%2Fpkg", ("scope", "pkg")),
        ("@s/" + "x" * (214 - 3), ("s", "x" * 211)),
    ],
)
def test_parse_package_name_accepts(name, expected):
    assert parse_package_name(name) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("hello-world", "scoped: @OWNER/NAME"),
        ("octo/hello", "scoped: @OWNER/NAME"),
        ("@scope", "exactly one '/'"),
        ("@scope/a/b", "exactly one '/'"),
        ("@scope/../x", "exactly one '/'"),
        ("@scope%2fa%2fb", "may only contain"),
        ("@/pkg", "empty scope"),
        ("@scope/", "nothing after the scope"),
        ("@s/" + "x" * 212, "longer than 214"),
        ("@Octo/pkg", "lower case"),
        ("@octo/Pkg", "lower case"),
        ("@scope/.hidden", "must not start with '.' or '_'"),
        ("@scope/_private", "must not start with '.' or '_'"),
        ("@.scope/pkg", "must not start with '.' or '_'"),
        ("@scope/..", "must not start with '.' or '_'"),
        ("@../pkg", "must not start with '.' or '_'"),
        ("@scope/a\\b", "may only contain"),
        ("@scope/a%20b", "may only contain"),
        ("@scope/%2e%2e", "may only contain"),
        ("@scope/crazy!", "may only contain"),
        ("@scope/a~b", "may only contain"),
        ("@scope/a(b)", "may only contain"),
        ("@scope/a:b", "may only contain"),
        ("@scope/caf\u00e9", "may only contain"),
        ("@scope/a b", "whitespace or control"),
        (" @scope/a", "whitespace or control"),
        ("@scope/a\n", "whitespace or control"),
        ("@scope/a\x00", "whitespace or control"),
        ("@scope/a\x7f", "whitespace or control"),
        ("@scope/a\u00a0", "whitespace or control"),
    ],
)
def test_parse_package_name_rejects(name, message):
    with pytest.raises(InvalidPackage) as error:
        parse_package_name(name)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_invalid_package_is_a_value_error():
    assert issubclass(InvalidPackage, ValueError)


# --- versions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        "0.0.0",
        "1.0.0",
        "10.20.30",
        "1.2.3-alpha",
        "1.2.3-alpha.1",
        "1.2.3-0.3.7",
        "1.2.3-x.7.z.92",
        "1.0.0-alpha-a.b-c-somethinglong",
        "1.0.0--",
        "1.0.0-0a",
        "1.0.0+20130313144700",
        "1.0.0+001",
        "1.0.0-beta+exp.sha.5114f85",
        "9007199254740991.0.0",
    ],
)
def test_validate_version_accepts_semver(version):
    assert validate_version(version) == version
    assert is_valid_version(version)


@pytest.mark.parametrize(
    ("version", "clean"),
    [
        ("v1.2.3", "1.2.3"),
        ("=1.2.3", "1.2.3"),
        ("v=v1.2.3", "1.2.3"),
        ("  1.2.3\n", "1.2.3"),
        ("v2.0.0-rc.1", "2.0.0-rc.1"),
    ],
)
def test_validate_version_cleans_like_semver_clean(version, clean):
    assert validate_version(version) == clean


@pytest.mark.parametrize(
    "version",
    [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.03",
        "1.2.3-01",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-a..b",
        "1.2.3+a..b",
        "1.2.3+../../etc",
        "1.2.3+a/b",
        "1.2.3/../x",
        "1.2.3-beta_1",
        "1.2.3 beta",
        "latest",
        "^1.2.3",
        "1.2.x",
        "\uff11.2.3",  # a full-width digit is a digit to \d but not to semver
        "1.2.3\u0661",
        "9007199254740992.0.0",
        "1.0.0-" + "a" * 260,
    ],
)
def test_validate_version_rejects(version):
    with pytest.raises(InvalidPackage):
        validate_version(version)
    assert not is_valid_version(version)


def test_validate_version_rejects_non_strings():
    with pytest.raises(InvalidPackage):
        validate_version(1)  # type: ignore[arg-type]


def test_tarball_filename():
    assert tarball_filename("@scope/pkg", "1.0.0") == "pkg-1.0.0.tgz"
    assert tarball_filename("@scope%2fpkg", "v1.0.0-rc.1+b.2") == "pkg-1.0.0-rc.1+b.2.tgz"
    with pytest.raises(InvalidPackage):
        tarball_filename("pkg", "1.0.0")
    with pytest.raises(InvalidPackage):
        tarball_filename("@scope/pkg", "1.0.0/../../x")


# --- integrity -------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_integrity_round_trip(algorithm):
    data = b"the tarball"
    hexdigest = hashlib.new(algorithm, data).hexdigest()
    value = integrity_of(algorithm, hexdigest)
    assert value == f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    assert parse_integrity(value) == {algorithm: hexdigest}


def test_parse_integrity_several_entries_options_and_unknown_algorithms():
    data = b"several"
    sha512 = integrity_of("sha512", hashlib.sha512(data).hexdigest())
    sha1 = integrity_of("sha1", hashlib.sha1(data).hexdigest())
    value = f"  {sha512}?foo=bar  md5-rL0Y20zC+Fzt72VPzMSk2A== sha3-abc=\n{sha1} {sha512}"
    assert parse_integrity(value) == {
        "sha512": hashlib.sha512(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
    }
    assert parse_integrity("md5-rL0Y20zC+Fzt72VPzMSk2A==") == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("sha512", "not of the form"),
        ("sha512-", "not of the form"),
        ("sha512-!!!!", "not of the form"),
        ("-abcd", "not of the form"),
        ("sha512-" + base64.b64encode(b"x" * 63).decode(), "63 bytes, not 64"),
        ("sha1-" + base64.b64encode(b"x" * 20).decode()[:-1], "not valid base64"),
        (
            integrity_of("sha512", "00" * 64) + " " + integrity_of("sha512", "11" * 64),
            "two different sha512",
        ),
    ],
)
def test_parse_integrity_rejects(value, message):
    with pytest.raises(InvalidPackage) as error:
        parse_integrity(value)
    assert message in str(error.value)


def test_integrity_of_refuses_unknown_algorithms_and_wrong_lengths():
    with pytest.raises(ValueError):
        integrity_of("md5", "00" * 16)
    with pytest.raises(ValueError):
        integrity_of("sha512", "00" * 20)


# --- split_publish_body: well-formed bodies --------------------------------------------------------


def test_split_real_npm_body(tarball):
    document = publish_document(tarball)
    result, sinks = split(json.dumps(document).encode())
    name = f"{NAME}-1.0.0.tgz"
    assert sinks.data(name) == tarball
    assert list(sinks.files) == [name]
    assert result == without_data(document)
    assert "data" not in result["_attachments"][name]
    with tarfile.open(fileobj=io.BytesIO(sinks.data(name)), mode="r:gz") as tar:
        assert json.load(tar.extractfile("package/package.json"))["name"] == NAME


def test_split_handles_escaped_slashes_unicode_escapes_and_tricky_strings(tarball):
    document = publish_document(tarball)
    document["description"] = 'quotes " and \\ backslashes \\" and "_attachments": {"x": {"data": "QQ=="}}'
    document["versions"]["1.0.0"]["data"] = "not an attachment"
    document["versions"]["1.0.0"]["nested"] = {"_attachments": {"y.tgz": {"data": "QUJD"}}}
    document["keywords"] = ["caf\u00e9", "\u2603", "emoji \U0001f600", "", "\\", '"']
    body = json.dumps(document, ensure_ascii=False).encode()
    # escape every '/' of the base64 as some JSON encoders do, and a few letters as \u escapes
    data = document["_attachments"][f"{NAME}-1.0.0.tgz"]["data"]
    escaped = data.replace("/", "\\/").replace("A", "\\u0041", 50)
    body = body.replace(json.dumps(data).encode(), f'"{escaped}"'.encode())
    assert b"\\/" in body and b"\\u0041" in body
    # and spell _attachments with an escape: the key is what it decodes to
    body = body.replace(b'"_attachments"', b'"\\u005fattachments"')
    result, sinks = split(body)
    assert sinks.data(f"{NAME}-1.0.0.tgz") == tarball
    assert result == without_data(document)
    assert result["versions"]["1.0.0"]["nested"] == {"_attachments": {"y.tgz": {"data": "QUJD"}}}


def test_split_whitespace_everywhere_json_allows(tarball):
    document = publish_document(tarball)
    body = json.dumps(document, indent="\t", separators=(" ,\r\n ", " :  ")).encode()
    body = b" \r\n\t" + body + b"\n\n  "
    result, sinks = split(body)
    assert sinks.data(f"{NAME}-1.0.0.tgz") == tarball
    assert result == without_data(document)


def test_split_attachments_first_and_data_first(tarball):
    document = publish_document(tarball)
    name = f"{NAME}-1.0.0.tgz"
    attachment = document["_attachments"][name]
    reordered = {
        "_attachments": {
            name: {"data": attachment["data"], "length": attachment["length"], "content_type": "x"}
        },
        **{key: value for key, value in document.items() if key != "_attachments"},
    }
    result, sinks = split(json.dumps(reordered).encode())
    assert sinks.data(name) == tarball
    assert result == without_data(reordered)
    assert next(iter(result)) == "_attachments"


def test_split_with_tiny_reads(tarball):
    document = publish_document(tarball)
    document["description"] = 'a "quoted" \\ tricky \\\\" one \u00e9\u2603'
    body = json.dumps(document, indent=1).encode()
    data = document["_attachments"][f"{NAME}-1.0.0.tgz"]["data"]
    escaped = data.replace("/", "\\/").replace("B", "\\u0042")
    body = body.replace(json.dumps(data).encode(), f'"{escaped}"'.encode())
    for seed in range(5):
        sinks = Sinks()
        result = split_publish_body(TrickleStream(body, seed), sinks)
        assert sinks.data(f"{NAME}-1.0.0.tgz") == tarball
        assert result == without_data(document)


def test_split_several_attachments_and_one_without_data(tarball):
    other = make_tarball({"name": "other"})
    document = {
        "name": NAME,
        "_attachments": {
            "a.tgz": {"data": base64.b64encode(tarball).decode(), "length": len(tarball)},
            "stub.tgz": {"stub": True, "length": 3},
            "b.tgz": {"length": len(other), "data": base64.b64encode(other).decode()},
            "empty.tgz": {"data": ""},
        },
    }
    result, sinks = split(json.dumps(document).encode())
    assert sinks.data("a.tgz") == tarball
    assert sinks.data("b.tgz") == other
    assert sinks.data("empty.tgz") == b""
    assert "stub.tgz" not in sinks.files
    assert result == without_data(document)


def test_split_update_bodies_without_attachments():
    document = {"_id": NAME, "name": NAME, "versions": {"1.0.0": {"deprecated": "use 2"}}, "_attachments": {}}
    result, sinks = split(json.dumps(document).encode())
    assert result == document
    assert sinks.files == {}
    assert split(b'{"name": "x"}')[0] == {"name": "x"}


def test_split_attachment_data_does_not_count_towards_the_document_limit(tarball):
    document = publish_document(tarball)
    body = json.dumps(document).encode()
    limit = len(body) - len(document["_attachments"][f"{NAME}-1.0.0.tgz"]["data"]) + 100
    _, sinks = split(body, max_document_bytes=limit)
    assert sinks.data(f"{NAME}-1.0.0.tgz") == tarball


# --- split_publish_body: what it refuses -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"[]", "must be a JSON object"),
        (b'"a string"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'{"a": 1', "ended before"),
        (b'{"a": "unterminated', "ended before"),
        (b'{"a": 1}}', "not valid JSON"),
        (b'{"a": 1} {"b": 2}', "not valid JSON"),
        (b'{"a" 1}', "expected ':'"),
        (b'{"a": 1 "b": 2}', "expected ','"),
        (b"{a: 1}", "member name"),
        (b'{"a": [1, 2}', "not valid JSON"),
        (b'{"a": {"b": 1]}', "not valid JSON"),
        (b'{"a": ]}', "expected a value"),
        (b'{"a": 1,}', "not valid JSON"),
        (b'{"a": [1,]}', "not valid JSON"),
        (b'{"a": tru}', "not valid JSON"),
        (b'{"a": 01}', "not valid JSON"),
        (b"{\"a\": 'x'}", "expected a value"),
        (b'{"a": "bad \\x escape"}', "not valid JSON"),
        (b'{"a\\q": 1}', "member name"),
        (b'{"a": "raw\ncontrol"}', "not valid JSON"),
        (b'{"a": "\xff\xfe"}', "UTF-8"),
        (b"[" * 1000 + b"]" * 1000, "must be a JSON object"),
        (b'{"a":' + b"[" * 1000 + b"]" * 1000 + b"}", "nested too deeply"),
    ],
)
def test_split_rejects_malformed_json(body, message):
    with pytest.raises(InvalidPackage) as error:
        split(body)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"_attachments": []}', "_attachments must be an object"),
        (b'{"_attachments": "x"}', "_attachments must be an object"),
        (b'{"_attachments": null}', "_attachments must be an object"),
        (b'{"_attachments": {"a.tgz": "QUJD"}}', "attachment 'a.tgz' must be an object"),
        (b'{"_attachments": {"a.tgz": [1]}}', "attachment 'a.tgz' must be an object"),
        (b'{"_attachments": {"a.tgz": {"data": 123}}}', "data must be a base64 string"),
        (b'{"_attachments": {"a.tgz": {"data": null}}}', "data must be a base64 string"),
        (b'{"_attachments": {"a.tgz": {"data": ["QUJD"]}}}', "data must be a base64 string"),
        (b'{"_attachments": {"a.tgz": {"data": "QU@D"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QUJ"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QQ"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QQ==QUJD"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "===="}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QU JD"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QUJD\\nQUJD"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QU\\"JD"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QUJD\\\\"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QUJ\\u00e9"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QUJ\\u00"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QUJ\\\\/"}}}', "not valid base64"),
        (b'{"_attachments": {}, "_attachments": {}}', "more than once"),
        (b'{"_attachments": {"a.tgz": {}, "a.tgz": {}}}', "more than once"),
        (b'{"_attachments": {"a.tgz": {"data": "QUJD", "data": "QUJD"}}}', "more than once"),
    ],
)
def test_split_rejects_bad_attachments(body, message):
    with pytest.raises(InvalidPackage) as error:
        split(body)
    assert message in str(error.value)
    # the same answer however the body arrives
    with pytest.raises(InvalidPackage) as trickled:
        split_publish_body(TrickleStream(body), Sinks())
    assert message in str(trickled.value)


def test_split_base64_padding_error_across_decode_batches():
    # 'QQ==' ends the data; more base64 after it is an error even when it lands in a later batch
    data = "QUJD" * 300_000 + "QQ==" + "QUJD" * 300_000
    with pytest.raises(InvalidPackage, match="not valid base64"):
        split(json.dumps({"_attachments": {"a": {"data": data}}}).encode())


def test_split_rejects_an_oversized_document(tarball):
    document = publish_document(tarball)
    document["readme"] = "x" * 5000
    with pytest.raises(InvalidPackage, match="package document is too large"):
        split(json.dumps(document).encode(), max_document_bytes=4000)
    many_keys = json.dumps({f"k{i}": i for i in range(2000)}).encode()
    with pytest.raises(InvalidPackage, match="package document is too large"):
        split(many_keys, max_document_bytes=1000)


def test_split_accepts_bytearray_chunks(tarball):
    class ByteArrayStream(io.BytesIO):
        def read(self, size=-1):
            return bytearray(super().read(size))

    document = publish_document(tarball)
    sinks = Sinks()
    result = split_publish_body(ByteArrayStream(json.dumps(document).encode()), sinks)
    assert sinks.data(f"{NAME}-1.0.0.tgz") == tarball
    assert result == without_data(document)


class GeneratedBody:
    """A publish body whose tarball is generated as it is read, so the test itself holds no copy of it."""

    def __init__(self, size: int, piece: int = 3 * 1024 * 256) -> None:
        self.expected = hashlib.sha256()
        self._remaining = size
        self._random = random.Random(42)
        self._piece = piece
        self._prefix = json.dumps({"_id": NAME, "name": NAME, "_attachments": {"big.tgz": {"length": size}}})
        self._prefix = self._prefix[:-3].encode() + b', "data": "'
        self._suffix = b'"}}, "versions": {}}'
        self._pending = self._prefix

    def read(self, size: int = -1) -> bytes:
        if not self._pending and self._remaining:
            raw = self._random.randbytes(min(self._piece, self._remaining))
            self._remaining -= len(raw)
            self.expected.update(raw)
            self._pending = base64.b64encode(raw) + (self._suffix if not self._remaining else b"")
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return chunk


class HashingSink:
    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)


def test_split_streams_a_50mb_attachment_in_bounded_memory():
    size = 50 * 1024 * 1024
    body = GeneratedBody(size)
    sink = HashingSink()
    started = time.thread_time()  # CPU time: what a worker is kept busy for, whatever the load
    tracemalloc.start()
    try:
        document = split_publish_body(body, lambda name: sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.thread_time() - started
    assert sink.size == size
    assert sink.hash.digest() == body.expected.digest()
    assert document == {
        "_id": NAME,
        "name": NAME,
        "_attachments": {"big.tgz": {"length": size}},
        "versions": {},
    }
    assert peak < 20 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    # a per-character loop over the 70 MB of base64 would take far longer than this
    assert elapsed < 15, f"took {elapsed:.1f}s"


def test_split_escaped_slashes_stay_fast():
    raw = bytes(range(256)) * 8192  # 2 MiB, with plenty of '/' in its base64
    data = base64.b64encode(raw).decode().replace("/", "\\/")
    body = ('{"_attachments": {"a.tgz": {"data": "' + data + '"}}}').encode()
    started = time.thread_time()  # CPU time: what a worker is kept busy for, whatever the load
    _, sinks = split(body)
    assert sinks.data("a.tgz") == raw
    assert time.thread_time() - started < 2


# --- parse_publish_document ------------------------------------------------------------------------


def test_parse_publish_document(tarball):
    document = publish_document(tarball)
    request = parse_publish_document(without_data(document), NAME)
    assert isinstance(request, PublishRequest)
    assert request.name == NAME
    assert request.scope == "octo-org"
    assert request.version == "1.0.0"
    assert request.dist_tags == {"latest": "1.0.0"}
    assert request.attachment_name == f"{NAME}-1.0.0.tgz"
    assert request.declared_length == len(tarball)
    assert request.expected_digests == {
        "sha1": hashlib.sha1(tarball).hexdigest(),
        "sha512": hashlib.sha512(tarball).hexdigest(),
    }
    assert request.readme == "# hello-world\n\nSays hello.\n"
    sent = document["versions"]["1.0.0"]
    assert request.manifest == {
        "name": NAME,
        "version": "1.0.0",
        "description": "Says hello",
        "main": "index.js",
        "scripts": sent["scripts"],
        "repository": sent["repository"],
        "license": "MIT",
        "dependencies": {"left-pad": "^1.3.0"},
        "readmeFilename": "README.md",
        "_hasShrinkwrap": False,
        "gitHead": sent["gitHead"],
        "dist": {"integrity": sent["dist"]["integrity"], "shasum": sent["dist"]["shasum"]},
    }
    # the caller's document is left alone
    assert document["versions"]["1.0.0"]["_npmUser"] == {"name": "mallory"}


def test_parse_publish_document_variants(tarball):
    document = without_data(publish_document(tarball, version="2.0.0-beta.1", tag="next"))
    document["readme"] = "top-level readme"
    document["versions"]["2.0.0-beta.1"]["dist"]["shasum"] = hashlib.sha1(tarball).hexdigest().upper()
    document["versions"]["2.0.0-beta.1"]["dist"]["integrity"] += " " + integrity_of(
        "sha1", hashlib.sha1(tarball).hexdigest()
    )
    request = parse_publish_document(document, "@octo-org%2Fhello-world")
    assert request.version == "2.0.0-beta.1"
    assert request.dist_tags == {"next": "2.0.0-beta.1"}
    assert request.readme == "top-level readme"
    assert request.expected_digests["sha1"] == hashlib.sha1(tarball).hexdigest()
    assert request.manifest["dist"]["shasum"] == hashlib.sha1(tarball).hexdigest()


def test_parse_publish_document_normalises_a_v_prefixed_version(tarball):
    document = without_data(publish_document(tarball, version="v1.0.0"))
    request = parse_publish_document(document, NAME)
    assert request.version == "1.0.0"
    assert request.manifest["version"] == "1.0.0"
    assert request.dist_tags == {"latest": "1.0.0"}
    assert request.attachment_name == f"{NAME}-v1.0.0.tgz"


def test_parse_publish_document_without_tags_readme_or_length(tarball):
    document = without_data(publish_document(tarball))
    del document["dist-tags"], document["versions"]["1.0.0"]["readme"]
    del document["_attachments"][f"{NAME}-1.0.0.tgz"]["length"]
    request = parse_publish_document(document, NAME)
    assert request.dist_tags == {}
    assert request.readme is None
    assert request.declared_length is None


def _version(document: dict) -> dict:
    return document["versions"]["1.0.0"]


def _attachment(document: dict) -> dict:
    return document["_attachments"][f"{NAME}-1.0.0.tgz"]


VIOLATIONS = [
    ("name mismatch", lambda d: d.update(name="@octo-org/other"), "sent to '@octo-org/hello-world'"),
    ("no name", lambda d: d.pop("name"), "the document is for package None"),
    ("_id mismatch", lambda d: d.update(_id="@evil/hello-world"), "_id"),
    ("no versions", lambda d: d.pop("versions"), "no version to publish"),
    ("empty versions", lambda d: d.update(versions={}), "no version to publish"),
    ("versions not an object", lambda d: d.update(versions=["1.0.0"]), "no version to publish"),
    (
        "two versions",
        lambda d: d["versions"].update({"1.0.1": dict(_version(d), version="1.0.1")}),
        "exactly one version; this one has 2",
    ),
    ("bad version key", lambda d: d.update(versions={"1.0": _version(d)}), "not a valid semver"),
    ("manifest not an object", lambda d: d.update(versions={"1.0.0": "x"}), "must be a package.json object"),
    ("manifest name", lambda d: _version(d).update(name="@octo-org/other"), "is named '@octo-org/other'"),
    ("manifest version", lambda d: _version(d).update(version="1.0.1"), "says its version is '1.0.1'"),
    ("manifest no version", lambda d: _version(d).pop("version"), "says its version is None"),
    ("manifest bad version", lambda d: _version(d).update(version="one"), "not a valid semver"),
    ("no dist", lambda d: _version(d).pop("dist"), "no dist object"),
    ("no shasum", lambda d: _version(d)["dist"].pop("shasum"), "dist.shasum"),
    ("short shasum", lambda d: _version(d)["dist"].update(shasum="abc"), "dist.shasum"),
    ("non-hex shasum", lambda d: _version(d)["dist"].update(shasum="g" * 40), "dist.shasum"),
    ("no integrity", lambda d: _version(d)["dist"].pop("integrity"), "dist.integrity is missing"),
    ("bad integrity", lambda d: _version(d)["dist"].update(integrity="sha512-???"), "not of the form"),
    (
        "sha1 disagreement",
        lambda d: _version(d)["dist"].update(integrity=integrity_of("sha1", "00" * 20)),
        "disagree",
    ),
    ("no attachments", lambda d: d.pop("_attachments"), "no tarball attachment"),
    ("empty attachments", lambda d: d.update(_attachments={}), "no tarball attachment"),
    (
        "two attachments",
        lambda d: d["_attachments"].update({"extra.tgz": {"length": 1}}),
        "exactly one tarball; this one has 2",
    ),
    (
        "provenance",
        lambda d: d["_attachments"].update({f"{NAME}-1.0.0.sigstore": {"length": 1}}),
        "--provenance",
    ),
    (
        "unscoped attachment name",
        lambda d: d.update(_attachments={"hello-world-1.0.0.tgz": _attachment(d)}),
        f"expected '{NAME}-1.0.0.tgz'",
    ),
    (
        "attachment for another version",
        lambda d: d.update(_attachments={f"{NAME}-1.0.1.tgz": _attachment(d)}),
        f"expected '{NAME}-1.0.0.tgz'",
    ),
    (
        "attachment not an object",
        lambda d: d.update(_attachments={f"{NAME}-1.0.0.tgz": "x"}),
        "must be an object",
    ),
    ("negative length", lambda d: _attachment(d).update(length=-1), "length must be a non-negative integer"),
    ("string length", lambda d: _attachment(d).update(length="12"), "length must be a non-negative integer"),
    ("boolean length", lambda d: _attachment(d).update(length=True), "length must be a non-negative integer"),
    ("tag elsewhere", lambda d: d["dist-tags"].update(latest="0.9.0"), "points at '0.9.0'"),
    ("tag not a string", lambda d: d["dist-tags"].update(latest=1), "points at 1"),
    ("tag is a version", lambda d: d["dist-tags"].update({"1.0.0": "1.0.0"}), "looks like a version"),
    ("tag is a v-version", lambda d: d["dist-tags"].update({"v1.0.0": "1.0.0"}), "looks like a version"),
    ("tag with a slash", lambda d: d["dist-tags"].update({"a/b": "1.0.0"}), "dist-tag 'a/b'"),
    ("empty tag", lambda d: d["dist-tags"].update({"": "1.0.0"}), "dist-tag ''"),
    ("dist-tags not an object", lambda d: d.update({"dist-tags": ["latest"]}), "dist-tags must be an object"),
]


@pytest.mark.parametrize(("mutate", "message"), [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS])
def test_parse_publish_document_violations(tarball, mutate, message):
    document = without_data(publish_document(tarball))
    mutate(document)
    with pytest.raises(InvalidPackage) as error:
        parse_publish_document(document, NAME)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_parse_publish_document_checks_the_url_name(tarball):
    document = without_data(publish_document(tarball))
    with pytest.raises(InvalidPackage, match="scoped"):
        parse_publish_document(document, "hello-world")
    with pytest.raises(InvalidPackage, match="sent to '@octo-org/hello-worlds'"):
        parse_publish_document(document, "@octo-org/hello-worlds")
    with pytest.raises(InvalidPackage, match="must be a JSON object"):
        parse_publish_document([], NAME)  # type: ignore[arg-type]


def test_split_then_parse_end_to_end(tarball):
    document = publish_document(tarball)
    result, sinks = split(json.dumps(document).encode())
    request = parse_publish_document(result, "@octo-org%2fhello-world")
    received = sinks.data(request.attachment_name)
    assert len(received) == request.declared_length
    assert hashlib.sha512(received).hexdigest() == request.expected_digests["sha512"]
    assert hashlib.sha1(received).hexdigest() == request.expected_digests["sha1"]


# --- repository_from_manifest ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("octo-org/hello-world", ("octo-org", "hello-world")),
        ("octo-org/hello-world.git", ("octo-org", "hello-world")),
        ("github:octo-org/hello-world", ("octo-org", "hello-world")),
        ("gitlab:octo-org/hello.world", ("octo-org", "hello.world")),
        ("octo-org/hello-world#main", ("octo-org", "hello-world")),
        (
            {"type": "git", "url": "git+https://git.example.com/octo-org/hello-world.git"},
            ("octo-org", "hello-world"),
        ),
        (
            {"type": "git", "url": "https://git.example.com/Octo/Repo.git", "directory": "packages/a"},
            ("Octo", "Repo"),
        ),
        ("https://git.example.com/octo-org/hello-world", ("octo-org", "hello-world")),
        ("https://git.example.com/octo-org/hello-world/", ("octo-org", "hello-world")),
        ("http://git.example.com:8080/octo-org/hello-world.git", ("octo-org", "hello-world")),
        ("https://git.example.com/octo-org/hello-world/tree/main/packages/x", ("octo-org", "hello-world")),
        ("https://git.example.com/octo-org/hello-world/blob/main/README.md", ("octo-org", "hello-world")),
        ("https://git.example.com/octo-org/hello-world#v1.0.0", ("octo-org", "hello-world")),
        ("https://user:token@git.example.com/octo-org/hello-world.git", ("octo-org", "hello-world")),
        ("git://git.example.com/octo-org/hello-world.git", ("octo-org", "hello-world")),
        ("git@git.example.com:octo-org/hello-world.git", ("octo-org", "hello-world")),
        ("git@git.example.com:octo-org/hello-world.git#semver:^1", ("octo-org", "hello-world")),
        ("ssh://git@git.example.com/octo-org/hello-world.git", ("octo-org", "hello-world")),
        ("ssh://git@git.example.com:2222/octo-org/hello-world.git", ("octo-org", "hello-world")),
        ("git+ssh://git@git.example.com/octo-org/hello-world.git", ("octo-org", "hello-world")),
        ("git+ssh://git@git.example.com:octo-org/hello-world.git", ("octo-org", "hello-world")),
        ("  octo-org/hello-world  ", ("octo-org", "hello-world")),
    ],
)
def test_repository_from_manifest(repository, expected):
    assert repository_from_manifest({"repository": repository}) == expected


@pytest.mark.parametrize(
    "repository",
    [
        None,
        42,
        ["octo-org/hello-world"],
        {"type": "git"},
        {"type": "git", "url": None},
        "",
        "hello-world",
        "gist:11081aaa281",
        "file:../hello-world",
        "./packages/a",
        "../a",
        "a/b/c",
        "https://git.example.com/octo-org",
        "https://git.example.com/",
        "https://git.example.com/group/subgroup/repo",
        "https://git.example.com/octo-org/../etc",
        "https://git.example.com/octo-org/.git",
        "ftp://git.example.com/octo-org/hello-world",
        "https:///octo-org/hello-world",
        "https://[::1/octo-org/hello-world",
        "not a url at all",
        "octo org/hello world",
    ],
)
def test_repository_from_manifest_unreadable(repository):
    assert repository_from_manifest({"repository": repository}) is None


def test_repository_from_manifest_without_repository():
    assert repository_from_manifest({}) is None


# --- packuments ------------------------------------------------------------------------------------


BASE = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def record(version: str, *, minutes: int, deprecated: str | None = None, **fields) -> VersionRecord:
    manifest = {
        "name": NAME,
        "version": version,
        "description": f"release {version}",
        "license": "MIT",
        "repository": {"type": "git", "url": "git+https://git.example.com/octo-org/hello-world.git"},
        "keywords": ["hello"],
        "main": "index.js",
        "scripts": {"test": "node test.js"},
        "dependencies": {"left-pad": "^1.3.0"},
        "dist": {"shasum": "ignored", "integrity": "ignored"},
        "_hasShrinkwrap": False,
        **fields,
    }
    digest = hashlib.sha1(version.encode()).hexdigest()
    return VersionRecord(
        version=version,
        manifest=manifest,
        tarball_url=f"https://registry.example/npm/{NAME}/-/hello-world-{version}.tgz",
        shasum=digest,
        integrity=integrity_of("sha512", hashlib.sha512(version.encode()).hexdigest()),
        created=BASE + timedelta(minutes=minutes),
        deprecated=deprecated,
    )


@pytest.fixture
def records() -> list[VersionRecord]:
    stale = record("1.0.0-rc.1", minutes=-10)
    stale.manifest["deprecated"] = "a flag left in an old manifest; the record says it is not deprecated"
    return [
        record("1.1.0-beta.1", minutes=30, bin={"hello": "bin/hello.js"}),
        record("1.0.0", minutes=0, deprecated="use 1.0.1", engines={"node": ">=18"}),
        record(
            "1.0.1",
            minutes=10,
            deprecated=None,
            scripts={"postinstall": "node build.js"},
            peerDependencies={"react": "*"},
            peerDependenciesMeta={"react": {"optional": True}},
            os=["linux"],
            cpu=["x64"],
            homepage="https://example.com/hello",
        ),
        stale,
    ]


def test_full_packument(records):
    tags = {"latest": "1.0.1", "beta": "1.1.0-beta.1", "gone": "0.0.1"}
    document = build_packument(
        NAME,
        records,
        tags,
        BASE - timedelta(minutes=10),
        BASE + timedelta(hours=1),
        abbreviated=False,
        readme="# hi",
    )
    assert document["_id"] == NAME and document["name"] == NAME
    # top-level fields come from the version 'latest' names, not the newest or highest
    assert document["description"] == "release 1.0.1"
    assert document["homepage"] == "https://example.com/hello"
    assert document["license"] == "MIT"
    assert document["keywords"] == ["hello"]
    assert document["repository"]["url"].endswith("hello-world.git")
    assert document["readme"] == "# hi"
    assert document["dist-tags"] == {"latest": "1.0.1", "beta": "1.1.0-beta.1"}
    assert list(document["versions"]) == ["1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0-beta.1"]
    assert document["time"] == {
        "created": "2024-01-02T02:54:05.678Z",
        "modified": "2024-01-02T04:04:05.678Z",
        "1.0.0-rc.1": "2024-01-02T02:54:05.678Z",
        "1.0.0": "2024-01-02T03:04:05.678Z",
        "1.0.1": "2024-01-02T03:14:05.678Z",
        "1.1.0-beta.1": "2024-01-02T03:34:05.678Z",
    }
    v101 = document["versions"]["1.0.1"]
    assert v101["_id"] == f"{NAME}@1.0.1"
    assert v101["name"] == NAME and v101["version"] == "1.0.1"
    assert v101["main"] == "index.js"
    assert v101["scripts"] == {"postinstall": "node build.js"}
    assert v101["hasInstallScript"] is True
    assert v101["dist"] == {
        "shasum": hashlib.sha1(b"1.0.1").hexdigest(),
        "integrity": integrity_of("sha512", hashlib.sha512(b"1.0.1").hexdigest()),
        "tarball": f"https://registry.example/npm/{NAME}/-/hello-world-1.0.1.tgz",
    }
    assert "deprecated" not in v101
    assert document["versions"]["1.0.0"]["deprecated"] == "use 1.0.1"
    assert "deprecated" not in document["versions"]["1.0.0-rc.1"]
    assert "hasInstallScript" not in document["versions"]["1.0.0"]
    json.dumps(document)  # all plain JSON


def test_abbreviated_packument(records):
    tags = {"latest": "1.0.1", "beta": "1.1.0-beta.1"}
    document = build_packument(
        NAME, records, tags, BASE, BASE + timedelta(hours=1), abbreviated=True, readme="# hi"
    )
    assert set(document) == {"name", "modified", "dist-tags", "versions"}
    assert document["name"] == NAME
    assert document["modified"] == "2024-01-02T04:04:05.678Z"
    assert document["dist-tags"] == tags
    allowed = {
        "name", "version", "deprecated", "dependencies", "optionalDependencies", "devDependencies",
        "bundleDependencies", "bundledDependencies", "peerDependencies", "peerDependenciesMeta",
        "acceptDependencies", "bin", "directories", "dist", "engines", "_hasShrinkwrap",
        "hasInstallScript", "cpu", "os", "libc", "funding",
    }  # fmt: skip
    for entry in document["versions"].values():
        assert set(entry) <= allowed
        for dropped in (
            "description",
            "scripts",
            "main",
            "repository",
            "license",
            "readme",
            "_id",
            "keywords",
        ):
            assert dropped not in entry
    v101 = document["versions"]["1.0.1"]
    assert v101 == {
        "name": NAME,
        "version": "1.0.1",
        "dependencies": {"left-pad": "^1.3.0"},
        "peerDependencies": {"react": "*"},
        "peerDependenciesMeta": {"react": {"optional": True}},
        "_hasShrinkwrap": False,
        "cpu": ["x64"],
        "os": ["linux"],
        "hasInstallScript": True,
        "dist": {
            "shasum": hashlib.sha1(b"1.0.1").hexdigest(),
            "integrity": integrity_of("sha512", hashlib.sha512(b"1.0.1").hexdigest()),
            "tarball": f"https://registry.example/npm/{NAME}/-/hello-world-1.0.1.tgz",
        },
    }
    assert document["versions"]["1.0.0"]["deprecated"] == "use 1.0.1"
    assert document["versions"]["1.0.0"]["engines"] == {"node": ">=18"}
    assert document["versions"]["1.1.0-beta.1"]["bin"] == {"hello": "bin/hello.js"}
    assert "deprecated" not in document["versions"]["1.0.0-rc.1"]


def test_packument_latest_falls_back_to_the_highest_release(records):
    document = build_packument(NAME, records, {}, BASE, BASE, abbreviated=False)
    assert document["description"] == "release 1.0.1"
    assert "readme" not in document
    only_prereleases = [record("2.0.0-alpha.2", minutes=0), record("2.0.0-alpha.10", minutes=1)]
    document = build_packument(NAME, only_prereleases, {}, BASE, BASE, abbreviated=False)
    assert document["description"] == "release 2.0.0-alpha.10"
    assert list(document["versions"]) == ["2.0.0-alpha.2", "2.0.0-alpha.10"]


def test_packument_semver_ordering():
    versions = ["1.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                "1.0.0-beta.11", "1.0.0-rc.1", "0.9.0", "10.0.0", "2.0.0"]  # fmt: skip
    shuffled = [record(v, minutes=i) for i, v in enumerate(reversed(versions))]
    document = build_packument(NAME, shuffled, {}, BASE, BASE, abbreviated=True)
    assert list(document["versions"]) == [
        "0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
        "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "10.0.0",
    ]  # fmt: skip


def test_packument_without_versions():
    document = build_packument(NAME, [], {"latest": "1.0.0"}, BASE, BASE, abbreviated=False)
    assert document == {
        "_id": NAME,
        "name": NAME,
        "dist-tags": {},
        "versions": {},
        "time": {"created": "2024-01-02T03:04:05.678Z", "modified": "2024-01-02T03:04:05.678Z"},
    }


def test_iso_time_is_utc_with_milliseconds():
    assert iso_time(datetime(2015, 3, 24, 0, 12, 24, 39000)) == "2015-03-24T00:12:24.039Z"  # naive: UTC
    assert iso_time(datetime(2015, 3, 24, 2, 12, 24, tzinfo=timezone(timedelta(hours=2)))) == (
        "2015-03-24T00:12:24.000Z"
    )
    assert iso_time(datetime(2015, 3, 24, 0, 0, 0, 999999, tzinfo=UTC)) == "2015-03-24T00:00:00.999Z"


def test_a_document_of_millions_of_tiny_values_is_refused_early():
    """Found by the fuzz sweep: 8 MB of '1,1,1,...' kept a worker scanning for minutes."""
    body = b'{"name":"x","a":[' + b"1," * 4_000_000 + b"1]}"
    with pytest.raises(InvalidPackage, match="more than 200000 JSON values"):
        split_publish_body(io.BytesIO(body), lambda name: io.BytesIO())


def test_values_without_attachment_data_are_copied_whole_across_any_chunk_boundary(tarball):
    """Values beside the attachments are copied by runs, not a step per value: what they hold (brackets
    and quotes inside strings, escapes, nesting, whitespace) must come out exactly, wherever reads cut."""
    document = publish_document(tarball)
    document["versions"]["1.0.0"]["tricky"] = {
        "brackets": "[{]} \"}\" \\\\", "nested": [[{"a": ["]", "{"]}], {}, [], "\\\"[", 1e3, None, True],
        "empty": {}, "quote\"key": {"[": "]"},
    }
    document["time"] = {f"1.0.{n}": "2024-01-01T00:00:00.000Z" for n in range(50)}
    body = json.dumps(document, indent=2).encode()
    for seed in range(3):
        sinks = Sinks()
        assert split_publish_body(TrickleStream(body, seed), sinks) == without_data(document)
        assert sinks.data(f"{NAME}-1.0.0.tgz") == tarball


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": {"b": [1}}', "expected ']'"),
        (b'{"a": [[1], {"b": 2]]}', "expected '}'"),
        (b'{"a": [' + b"[" * 600 + b"]" * 600 + b"]}", "nested too deeply"),
    ],
)
def test_brackets_of_values_beside_the_attachments_must_match(body, message):
    with pytest.raises(InvalidPackage, match=message):
        split(body)


def test_a_document_just_under_the_value_cap_is_read():
    values = MAX_DOCUMENT_TOKENS // 2 - 100  # a comma and a value each
    result, _ = split(b'{"name":"x","a":[' + b",".join([b"[]"] * (values // 2)) + b"]}")
    assert len(result["a"]) == values // 2


def test_a_document_of_too_many_members_where_attachments_can_be_is_refused():
    """The document and its attachments are read a step per member; npm sends about twenty."""
    members = b",".join(b'"k%d":1' % n for n in range(MAX_SCANNED_MEMBERS + 1))
    with pytest.raises(InvalidPackage, match=f"more than {MAX_SCANNED_MEMBERS} members"):
        split(b"{" + members + b"}")
    with pytest.raises(InvalidPackage, match=f"more than {MAX_SCANNED_MEMBERS} members"):
        split(b'{"_attachments":{' + members.replace(b":1", b":{}") + b"}}")

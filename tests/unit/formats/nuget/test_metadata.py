"""NuGet ids, versions, ranges and .nupkg/.nuspec reading, on bytes built here."""

from __future__ import annotations

import io
import zipfile

import pytest

from appliance.formats.nuget import metadata
from appliance.formats.nuget.metadata import InvalidPackage
from tests.support.nuget import nupkg_bytes, nuspec_xml


@pytest.mark.parametrize(("given", "normalized"), [
    ("1", "1.0.0"),
    ("1.0", "1.0.0"),
    ("1.0.0.0", "1.0.0"),
    ("1.2.3.4", "1.2.3.4"),
    ("01.002.0003", "1.2.3"),
    ("1.0.0-Beta.1", "1.0.0-Beta.1"),
    ("1.0.0+sha.abc", "1.0.0"),
    ("1.0.0.0-rc+build5", "1.0.0-rc"),
])
def test_versions_normalise_as_nuget_does(given, normalized):
    assert metadata.normalize_version(given) == normalized


@pytest.mark.parametrize("bad", ["", "a", "1.0.0.0.0", "1.0-", "1.0.0/../x", "../1.0", "1.0.0-beta..1",
                                 "1.0 .0", "99999999999.0"])
def test_invalid_versions_are_refused(bad):
    with pytest.raises(InvalidPackage):
        metadata.parse_version(bad)


@pytest.mark.parametrize("bad", ["1" * 5000, "1.0.0-" + "1" * 5000, "1.0.0-" + "a" * 250])
def test_overlong_versions_are_refused(bad):
    """Not a ValueError from int() (a 500 on push) nor a version too wide for its database column."""
    with pytest.raises(InvalidPackage, match="longer than 255"):
        metadata.parse_version(bad)
    with pytest.raises(InvalidPackage, match="longer than 255"):
        metadata.parse_nuspec(nuspec_xml("A", bad))


def test_version_order_is_semver2():
    versions = ["1.0.0", "1.0.0-beta.2", "1.0.0-beta.10", "1.0.0-Alpha", "0.9.0", "1.0.0.1", "1.0.0-beta"]
    assert metadata.sorted_versions(versions) == [
        "0.9.0", "1.0.0-Alpha", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.10", "1.0.0", "1.0.0.1"]


def test_semver2_and_prerelease_flags():
    assert not metadata.parse_version("1.0.0-beta").is_semver2
    assert metadata.parse_version("1.0.0-beta.1").is_semver2
    assert metadata.parse_version("1.0.0+meta").is_semver2
    assert metadata.parse_version("1.0.0-beta").is_prerelease
    assert not metadata.parse_version("1.0.0").is_prerelease


@pytest.mark.parametrize("good", ["Newtonsoft.Json", "a", "My_Lib-2.Core", "x" * 100])
def test_valid_ids(good):
    assert metadata.check_id(good) == good


@pytest.mark.parametrize("bad", ["", "x" * 101, "a..b", "../etc", "a/b", "a\\b", ".a", "a.", "a b", "a%2fb", "é"])
def test_invalid_ids_are_refused(bad):
    with pytest.raises(InvalidPackage):
        metadata.check_id(bad)


@pytest.mark.parametrize(("given", "normalized"), [
    (None, "(, )"),
    ("", "(, )"),
    ("1.0", "[1.0.0, )"),
    ("[1.0]", "[1.0.0, 1.0.0]"),
    ("[1.0,2.0)", "[1.0.0, 2.0.0)"),
    ("(,2.0]", "(, 2.0.0]"),
    ("(1.0.0.0, )", "(1.0.0, )"),
])
def test_ranges_normalise(given, normalized):
    assert metadata.normalize_range(given) == normalized


@pytest.mark.parametrize("bad", ["[1.0", "(1.0)", "[2.0, 1.0]", "[1,2,3]", "[,]", "[x, 2.0]"])
def test_invalid_ranges_are_refused(bad):
    with pytest.raises(InvalidPackage):
        metadata.normalize_range(bad)


def test_read_nupkg_with_dependency_groups_and_repository():
    data = nupkg_bytes("Acme.Widgets", "1.02.0.0-RC.1+abc", tags="ui, widgets", description="Widgets",
                       repository_url="https://github.com/acme/widgets.git",
                       dependencies={"net6.0": [("Acme.Core", "1.0")], "": [("Other", "[2.0, 3.0)")]})
    nuspec = metadata.read_nupkg(io.BytesIO(data))
    assert nuspec.id == "Acme.Widgets"
    assert nuspec.version.normalized == "1.2.0-RC.1"
    assert nuspec.original_version == "1.02.0.0-RC.1+abc"
    assert nuspec.tags == ("ui", "widgets")
    assert nuspec.repository == ("acme", "widgets")
    fields = nuspec.fields()
    assert fields["dependencyGroups"] == [
        {"targetFramework": "net6.0", "dependencies": [{"id": "Acme.Core", "range": "[1.0.0, )"}]},
        {"targetFramework": "", "dependencies": [{"id": "Other", "range": "[2.0.0, 3.0.0)"}]},
    ]
    assert fields["isPrerelease"] and fields["isSemVer2"]
    assert nuspec.raw == nuspec_xml("Acme.Widgets", "1.02.0.0-RC.1+abc", tags="ui, widgets", description="Widgets",
                                    repository_url="https://github.com/acme/widgets.git",
                                    dependencies={"net6.0": [("Acme.Core", "1.0")], "": [("Other", "[2.0, 3.0)")]})


def test_flat_dependencies_and_symbols_package_type():
    nuspec = metadata.parse_nuspec(
        b'<package><metadata minClientVersion="2.12"><id>A</id><version>1.0</version>'
        b'<packageTypes><packageType name="SymbolsPackage"/></packageTypes>'
        b'<dependencies><dependency id="B" version="[1.0]"/></dependencies></metadata></package>')
    assert nuspec.min_client_version == "2.12"
    assert nuspec.is_symbols_package
    assert nuspec.dependency_groups == (metadata.DependencyGroup("", (metadata.Dependency("B", "[1.0.0, 1.0.0]"),)),)


def test_repository_urls_that_name_no_repository():
    assert metadata.parse_nuspec(nuspec_xml("A", "1.0", repository_url="https://example.com/")).repository is None
    assert metadata.parse_nuspec(nuspec_xml("A", "1.0")).repository is None


@pytest.mark.parametrize("data", [b"not a zip at all", b"PK\x03\x04garbage", b""])
def test_not_a_zip(data):
    with pytest.raises(InvalidPackage, match="not a valid .nupkg"):
        metadata.read_nupkg(io.BytesIO(data))


def _zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def test_no_nuspec_or_two_or_nested_only():
    with pytest.raises(InvalidPackage, match="exactly one .nuspec"):
        metadata.read_nupkg(_zip({"lib/a.dll": b"x"}))
    with pytest.raises(InvalidPackage, match="exactly one .nuspec"):
        metadata.read_nupkg(_zip({"lib/a.nuspec": nuspec_xml("A", "1.0")}))
    with pytest.raises(InvalidPackage, match="holds 2"):
        metadata.read_nupkg(_zip({"a.nuspec": nuspec_xml("A", "1.0"), "b.nuspec": nuspec_xml("B", "1.0")}))


HOSTILE = [
    (b'<?xml version="1.0"?><!DOCTYPE package [<!ENTITY x "boom">]><package><metadata><id>&x;</id>'
    b"<version>1.0</version></metadata></package>"),
    b'<?xml version="1.0"?><!DOCTYPE package SYSTEM "http://example.com/x.dtd"><package/>',
    b'<?xml version="1.0"?><!DOCTYPE package [<!ENTITY x SYSTEM "file:///etc/passwd">]><package>&x;</package>',
]


@pytest.mark.parametrize("xml", HOSTILE)
def test_hostile_xml_is_refused(xml):
    with pytest.raises(InvalidPackage, match="DTD or entities"):
        metadata.read_nupkg(_zip({"a.nuspec": xml}))


def test_malformed_nuspecs():
    with pytest.raises(InvalidPackage, match="well-formed"):
        metadata.parse_nuspec(b"<package><metadata>")
    with pytest.raises(InvalidPackage, match="root element"):
        metadata.parse_nuspec(b"<project/>")
    with pytest.raises(InvalidPackage, match="no <metadata>"):
        metadata.parse_nuspec(b"<package/>")
    with pytest.raises(InvalidPackage, match="not valid"):
        metadata.parse_nuspec(nuspec_xml("../../etc/passwd", "1.0"))
    with pytest.raises(InvalidPackage, match="not a valid NuGet version"):
        metadata.parse_nuspec(nuspec_xml("A", "1.0/../../x"))
    with pytest.raises(InvalidPackage, match="not valid"):
        metadata.parse_nuspec(nuspec_xml("A", "1.0", dependencies={"": [("../x", "1.0")]}))


def test_zip_bomb_ratio_is_refused():
    bomb = _zip({"a.nuspec": nuspec_xml("A", "1.0"), "lib/zeros.bin": b"\0" * (8 << 20)})
    with pytest.raises(InvalidPackage, match="zip bomb"):
        metadata.read_nupkg(bomb)


def test_too_many_entries_are_refused(monkeypatch):
    monkeypatch.setattr(metadata, "MAX_ENTRIES", 10)
    entries = {f"content/{i}.txt": b"x" for i in range(11)}
    with pytest.raises(InvalidPackage, match="12 entries"):
        metadata.read_nupkg(_zip({"a.nuspec": nuspec_xml("A", "1.0"), **entries}))


def test_entry_count_and_directory_size_are_checked_before_the_directory_is_read(monkeypatch):
    """zipfile holds a zip's whole central directory, and a ZipInfo per entry, in memory: a directory
    of millions of empty entries must be refused from the end record alone."""
    many = _zip({"a.nuspec": nuspec_xml("A", "1.0"), **{f"content/{i}.txt": b"" for i in range(11)}})
    commented = io.BytesIO()
    with zipfile.ZipFile(commented, "w") as archive:
        archive.writestr("a.nuspec", nuspec_xml("A", "1.0"))
        for i in range(4):
            info = zipfile.ZipInfo(f"content/{i}.txt")
            info.comment = b"c" * 60_000
            archive.writestr(info, b"")
    commented.seek(0)

    def no_directory_read(*args, **kwargs):
        raise AssertionError("the central directory was read")

    monkeypatch.setattr(zipfile, "ZipFile", no_directory_read)
    monkeypatch.setattr(metadata, "MAX_ENTRIES", 10)
    with pytest.raises(InvalidPackage, match="12 entries"):
        metadata.read_nupkg(many)
    monkeypatch.setattr(metadata, "MAX_DIRECTORY_BYTES", 200_000)
    with pytest.raises(InvalidPackage, match="zip directory is 24"):
        metadata.read_nupkg(commented)


def test_sizes_are_bounded_before_unpacking(monkeypatch):
    monkeypatch.setattr(metadata, "MAX_ENTRY_BYTES", 1000)
    with pytest.raises(InvalidPackage, match="per file"):
        metadata.read_nupkg(_zip({"a.nuspec": nuspec_xml("A", "1.0"), "big": bytes(range(256)) * 8}))
    monkeypatch.setattr(metadata, "MAX_ENTRY_BYTES", 1 << 30)
    monkeypatch.setattr(metadata, "MAX_TOTAL_BYTES", 3000)
    with pytest.raises(InvalidPackage, match="unpacks to"):
        metadata.read_nupkg(_zip({"a.nuspec": nuspec_xml("A", "1.0"), **{f"f{i}": bytes(range(256)) * 4
                                                                          for i in range(4)}}))


def test_lying_sizes_in_the_zip_directory_do_not_unpack_more(monkeypatch):
    """A nuspec entry that claims a small size yet inflates further is cut at its claimed size."""
    monkeypatch.setattr(metadata, "MAX_NUSPEC_BYTES", 2000)
    big = b"<package>" + b" " * 5000 + b"</package>"
    buffer = _zip({"a.nuspec": big})
    data = bytearray(buffer.getvalue())
    # Patch the central directory's uncompressed size of the only entry (offset 24 in its header).
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = (100).to_bytes(4, "little")
    with pytest.raises(InvalidPackage):
        metadata.read_nupkg(io.BytesIO(bytes(data)))


@pytest.mark.parametrize("name", ["../evil.dll", "/abs.dll", "lib/../../x", "C:/x.dll", "lib\\..\\..\\x"])
def test_unsafe_entry_paths_are_refused(name):
    with pytest.raises(InvalidPackage, match="unsafe path"):
        metadata.read_nupkg(_zip({"a.nuspec": nuspec_xml("A", "1.0"), name: b"x"}))


def test_file_names_are_lower_case():
    assert metadata.nupkg_filename("Acme.Widgets", "1.0.0-RC") == "acme.widgets.1.0.0-rc.nupkg"
    assert metadata.snupkg_filename("Acme.Widgets", "1.0.0") == "acme.widgets.1.0.0.snupkg"
    assert metadata.nuspec_filename("Acme.Widgets") == "acme.widgets.nuspec"


def test_odata_strings():
    assert metadata.parse_odata_string("'it''s'") == "it's"
    assert metadata.parse_odata_string("''") == ""
    assert metadata.parse_odata_string("true") == "true"
    assert metadata.parse_odata_string(None) == ""


def test_legacy_feed_escapes_what_it_carries():
    import xml.etree.ElementTree as ET

    entry = metadata.LegacyEntry(id="A", version="1.0.0", content_url="http://x/a?b=1&c=2",
                                 description="<b>&amp;</b>", authors="me, you")
    feed = ET.fromstring(metadata.legacy_feed("http://x/api/v2/Search", [entry]))
    atom = f"{{{metadata.ATOM}}}"
    (found,) = feed.findall(f"{atom}entry")
    assert found.find(f"{atom}content").get("src") == "http://x/a?b=1&c=2"
    assert [n.text for n in found.find(f"{atom}author")] == ["me", "you"]
    properties = found.find(f"{{{metadata.DATA_SERVICES_METADATA}}}properties")
    assert properties.find(f"{{{metadata.DATA_SERVICES}}}Description").text == "<b>&amp;</b>"


def _flag_every_entry_encrypted(data: bytes) -> bytes:
    """What an encrypting zip tool writes: bit 0 of the flags in each local and central header."""
    patched = bytearray(data)
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = patched.find(signature)
        while start != -1:
            patched[start + flags_at] |= 0x1
            start = patched.find(signature, start + 4)
    return bytes(patched)


def test_encrypted_entries_are_refused():
    data = _flag_every_entry_encrypted(nupkg_bytes("Demo", "1.0.0"))
    with pytest.raises(InvalidPackage, match="is encrypted"):
        metadata.read_nupkg(io.BytesIO(data))


def test_a_nuspec_whose_deflate_stream_is_broken_is_refused():
    """Found by tests/fuzz: a deflated .nuspec whose bytes are not a deflate stream was zlib.error, a 500."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Demo.nuspec", nuspec_xml("Demo", "1.0.0"))
    data = bytearray(buffer.getvalue())
    body = data.index(b"Demo.nuspec") + len("Demo.nuspec")  # the local header's name, then the data
    data[body:body + 8] = b"\xff" * 8
    with pytest.raises(InvalidPackage, match="cannot be unpacked"):
        metadata.read_nupkg(io.BytesIO(bytes(data)))


@pytest.mark.parametrize("encoding", ["x-nope", "cp932", "idna", "rot13"])
def test_a_nuspec_in_an_encoding_we_cannot_read_is_refused(encoding):
    nuspec = nuspec_xml("Demo", "1.0.0").replace(b'encoding="utf-8"', f'encoding="{encoding}"'.encode())
    assert encoding.encode() in nuspec
    with pytest.raises(InvalidPackage, match="encoding"):
        metadata.parse_nuspec(nuspec)

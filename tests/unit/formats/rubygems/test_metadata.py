"""Reading a .gem: real `gem build` output, and everything a hostile or broken upload may hold."""
from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
import time
import tracemalloc

import pytest

from appliance.formats.rubygems import metadata
from appliance.formats.rubygems.metadata import (
    GemSpec,
    InvalidGem,
    compare_versions,
    full_version,
    is_prerelease,
    parse_gem,
    validate_name,
    validate_platform,
    validate_version,
    version_key,
)
from tests.clients.conftest import require_client
from tests.support.rubygems import gem_bytes, gem_members, gemspec_yaml, tar_of


def test_reads_what_gem_build_writes(tmp_path):
    require_client("gem")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "demo.rb").write_text("module Demo; end\n")
    (tmp_path / "demo.gemspec").write_text(
        'Gem::Specification.new do |s|\n  s.name = "demo"\n  s.version = "1.2.0-beta"\n  s.summary = "A demo"\n'
        '  s.authors = ["A", "B"]\n  s.email = "a@example.com"\n  s.files = ["lib/demo.rb"]\n  s.license = "MIT"\n'
        '  s.platform = "x86_64-linux"\n  s.required_ruby_version = ">= 2.7"\n'
        '  s.metadata = {"source_code_uri" => "https://example.com/acme/demo"}\n'
        '  s.add_dependency "rack", ">= 2", "< 4"\n  s.add_development_dependency "rake"\nend\n')
    built = subprocess.run(["gem", "build", "demo.gemspec"], cwd=tmp_path, capture_output=True, text=True,
                           check=False, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert built.returncode == 0, built.stderr
    with open(tmp_path / "demo-1.2.0.pre.beta-x86_64-linux.gem", "rb") as stream:
        spec = parse_gem(stream)
    assert (spec.name, spec.version, spec.platform, spec.full_version, spec.file_name, spec.prerelease) == (
        "demo", "1.2.0.pre.beta", "x86_64-linux", "1.2.0.pre.beta-x86_64-linux",
        "demo-1.2.0.pre.beta-x86_64-linux.gem", True)
    assert spec.authors == ["A", "B"] and spec.email == ["a@example.com"] and spec.licenses == ["MIT"]
    assert spec.metadata == {"source_code_uri": "https://example.com/acme/demo"}
    assert [(d.name, d.requirements, d.type) for d in spec.dependencies] == [
        ("rack", [(">=", "2"), ("<", "4")], "runtime"), ("rake", [(">=", "0")], "development")]
    assert spec.required_ruby_version == [(">=", "2.7")]
    assert spec.rubygems_version and spec.specification_version == 4 and len(spec.date) == 10
    assert GemSpec.from_json(spec.to_json()) == spec


def parse(data: bytes) -> GemSpec:
    return parse_gem(io.BytesIO(data))


def with_yaml(text: str) -> bytes:
    return tar_of(gem_members(text))


def test_a_gem_without_checksums_is_read():
    assert parse(tar_of(gem_members(gemspec_yaml("demo", "1.0"), with_checksums=False))).version == "1.0"


def test_platform_object_and_version_number():
    text = gemspec_yaml("demo", "1").replace(
        "platform: ruby", "platform: !ruby/object:Gem::Platform\n  cpu: x86_64\n  os: linux\n  version:")
    spec = parse(with_yaml(text))
    assert (spec.platform, spec.version, spec.file_name) == ("x86_64-linux", "1", "demo-1-x86_64-linux.gem")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a gem"),
        (b"this is not a gem at all" * 40, "not a gem"),
        (gzip.compress(b"not a tar either" * 100), "not a gem"),
        (tar_of({"metadata.gz": gzip.compress(gemspec_yaml("demo", "1").encode())}), "lacks metadata.gz or data.tar.gz"),
        (tar_of({**gem_members(gemspec_yaml("demo", "1")), "../evil": b"x"}), "not '../evil'"),
        (tar_of({**gem_members(gemspec_yaml("demo", "1")), "metadata.gz": b"\x1f\x8b garbage"}), "metadata.gz"),
        (tar_of({**gem_members(gemspec_yaml("demo", "1")), "data.tar.gz": b"\x1f\x8b garbage"}), "data.tar.gz"),
        (tar_of({**gem_members(gemspec_yaml("demo", "1")),
                 "data.tar.gz": gzip.compress(tar_of({"a": b"x"}))[:-6]}), "data.tar.gz"),
        (gem_bytes("demo", "1")[:700], "not a gem"),
    ],
)
def test_broken_archives_are_refused(data, message):
    with pytest.raises(InvalidGem, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse(data)


def test_data_that_unpacks_too_far_is_refused(monkeypatch):
    # a bomb: a small tar, then zeros past its end that gzip still has to inflate to check its CRC
    monkeypatch.setattr(metadata, "MAX_DATA_UNPACKED", 4 * 1024 * 1024)
    members = gem_members(gemspec_yaml("demo", "1"), with_checksums=False)
    members["data.tar.gz"] = gzip.compress(tar_of({"a": b"x"}) + bytes(8 * 1024 * 1024))
    assert len(members["data.tar.gz"]) < 64 * 1024
    with pytest.raises(InvalidGem, match="data.tar.gz unpacks to more than 4194304 bytes"):
        parse(tar_of(members))


def _data_of_empty_files(count: int) -> bytes:
    info = tarfile.TarInfo("lib/a.rb")
    info.mode = 0o444
    return gzip.compress(info.tobuf(tarfile.GNU_FORMAT) * count + bytes(1024), 9)


def test_the_files_of_data_are_read_without_keeping_their_headers():
    def peak_of_reading(files: int) -> int:
        members = gem_members(gemspec_yaml("demo", "1"), with_checksums=False)
        members["data.tar.gz"] = _data_of_empty_files(files)
        gem = tar_of(members)
        tracemalloc.start()
        try:
            parse(gem)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # 20 000 kept headers were about 9 MiB more (2 GiB at the 1 GiB bound, from an upload of a few MiB)
    assert peak_of_reading(20_000) < peak_of_reading(200) + 1024 * 1024


def test_data_with_too_many_files_is_refused(monkeypatch):
    monkeypatch.setattr(metadata, "MAX_DATA_MEMBERS", 100)
    members = gem_members(gemspec_yaml("demo", "1"), with_checksums=False)
    members["data.tar.gz"] = _data_of_empty_files(100)
    assert parse(tar_of(members))
    members["data.tar.gz"] = _data_of_empty_files(101)
    with pytest.raises(InvalidGem, match="data.tar.gz holds more than 100 files"):
        parse(tar_of(members))


def test_too_many_members_are_refused():
    members = {**gem_members(gemspec_yaml("demo", "1")), **{f"s{i}.sig": b"x" for i in range(20)}}
    with pytest.raises(InvalidGem, match="not 16 files or more"):
        parse(tar_of(members))


def test_members_must_match_their_checksums():
    members = gem_members(gemspec_yaml("demo", "1"))
    other = gem_members(gemspec_yaml("demo", "2"))
    members["data.tar.gz"] = other["data.tar.gz"]
    with pytest.raises(InvalidGem, match="data.tar.gz does not match its SHA256"):
        parse(tar_of(members))


def test_a_member_twice_is_refused():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member, data in [*gem_members(gemspec_yaml("demo", "1")).items(), ("metadata.gz", b"x")]:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(InvalidGem, match="twice"):
        parse(buffer.getvalue())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (("--- !ruby/object:Gem::Specification\nname: demo\nversion: !ruby/object:Gem::Version\n  version: '1'\n"
         "evil: !ruby/object:ERB\n  src: system('id')\n"), "something a gemspec cannot"),
        ("--- !ruby/hash:ActiveSupport::HashWithIndifferentAccess\nname: demo\n", "something a gemspec cannot"),
        ("--- !!python/object/apply:os.system ['id']\n", "something a gemspec cannot"),
        (("--- !ruby/object:Gem::Specification\nname: demo\nversion: !ruby/object:Gem::Version\n  version: '1'\n"
         "x: !ruby/object:Gem::Requirement [1]\n"), "must be a mapping"),
        ("--- {name: demo}\n", "not a Gem::Specification"),
        ("--- [1, 2]\n", "not a Gem::Specification"),
        ("name: [unclosed\n", "not valid YAML"),
        (("--- !ruby/object:Gem::Specification\nname: demo\nversion: !ruby/object:Gem::Requirement\n"
         "  requirements: []\n"), "must be a Gem::Version"),
        ("--- !ruby/object:Gem::Specification\nname: demo\n", "invalid gem version"),
    ],
)
def test_hostile_yaml_is_refused(text, message):
    with pytest.raises(InvalidGem, match=message):
        parse(with_yaml(text))


def test_an_alias_bomb_is_refused_before_it_expands():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 14):
        previous = chr(ord("a") + i - 1)
        lines.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [{','.join(['*' + previous] * 9)}]")
    text = ("--- !ruby/object:Gem::Specification\nname: demo\nversion: !ruby/object:Gem::Version\n  version: '1'\n"
            + "\n".join(lines) + "\nauthors: *n\n")
    with pytest.raises(InvalidGem, match=f"expands to more than {metadata.MAX_YAML_NODES} YAML nodes"):
        parse(with_yaml(text))


def test_too_many_aliases_are_refused():
    text = gemspec_yaml("demo", "1") + "a: &a x\nb: [" + ",".join(["*a"] * 101) + "]\n"
    with pytest.raises(InvalidGem, match="too many YAML aliases"):
        parse(with_yaml(text))
    assert parse(with_yaml(gemspec_yaml("demo", "1") + "a: &a x\nb: [" + ",".join(["*a"] * 100) + "]\n"))


def _wide_bomb(levels: int = 7) -> list[str]:
    """Anchors that expand to 10**levels strings with only 10 aliases a level: under the alias bound."""
    lines = ["b0: &b0 [x,x,x,x,x,x,x,x,x,x]"]
    lines += [f"b{i}: &b{i} [{','.join([f'*b{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return lines


@pytest.mark.parametrize("use", ["name: *b7", "version: *b7", "platform: *b7", "licenses: *b7"])
def test_a_bomb_within_the_alias_bound_is_refused_before_it_expands(use):
    text = ("--- !ruby/object:Gem::Specification\n" + "\n".join(_wide_bomb()) + "\n"
            + "\n".join(line for line in gemspec_yaml("demo", "1").splitlines()[1:]
                        if not line.startswith(use.split(":")[0] + ":")) + "\n" + use + "\n")
    with pytest.raises(InvalidGem, match="expands to more than") as refused:
        parse(with_yaml(text))
    assert len(str(refused.value)) < 200


def test_checksums_are_read_with_the_same_bounds():
    members = gem_members(gemspec_yaml("demo", "1"))
    sums = "\n".join(_wide_bomb()) + "\nSHA256:\n  data.tar.gz: *b7\n"
    members["checksums.yaml.gz"] = gzip.compress(sums.encode())
    with pytest.raises(InvalidGem, match="checksums.yaml.gz expands to more than"):
        parse(tar_of(members))
    members["checksums.yaml.gz"] = gzip.compress(b"[" * 20000 + b"]" * 20000)
    with pytest.raises(InvalidGem, match="checksums.yaml.gz nests too deeply"):
        parse(tar_of(members))


def test_deep_nesting_is_refused():
    text = "--- !ruby/object:Gem::Specification\nname: demo\nx: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(InvalidGem):
        parse(with_yaml(text))


def test_metadata_too_large_unpacked_is_refused():
    text = gemspec_yaml("demo", "1") + "description: " + "x" * (5 * 1024 * 1024) + "\n"
    with pytest.raises(InvalidGem, match="unpacks to more than"):
        parse(with_yaml(text))


@pytest.mark.parametrize(
    "yaml_value, message",
    [
        ("name: ../../etc/passwd", "invalid gem name"),
        ("name: .hidden", "invalid gem name"),
        ("name: a/b", "invalid gem name"),
        ("name: '123'", "invalid gem name"),
        ("name: ''", "invalid gem name"),
        ("name: [demo]", "invalid gem name"),
        ("platform: ../x", "invalid gem platform"),
        ("platform: x86_64/linux", "invalid gem platform"),
    ],
)
def test_names_and_platforms_with_path_tricks_are_refused(yaml_value, message):
    key = yaml_value.split(":")[0]
    text = "\n".join(yaml_value if line.startswith(f"{key}:") else line
                     for line in gemspec_yaml("demo", "1").splitlines())
    with pytest.raises(InvalidGem, match=message):
        parse(with_yaml(text))


@pytest.mark.parametrize("version", ["1.0/../../x", "../1", "1..0", ".1", "v1", "", "1.0\n2"])
def test_versions_with_path_tricks_are_refused(version):
    with pytest.raises(InvalidGem, match="invalid gem version"):
        validate_version(version)


def test_names_versions_platforms():
    assert validate_name("rails_admin-2.x") == "rails_admin-2.x"
    assert validate_version("1.0-rc1") == "1.0.pre.rc1"
    assert validate_version(3) == "3"
    assert validate_platform(None) == "ruby" and validate_platform("x64-mingw-ucrt") == "x64-mingw-ucrt"
    assert validate_platform("universal-darwin-22") == "universal-darwin-22"
    assert full_version("1.0", "ruby") == "1.0" and full_version("1.0", "java") == "1.0-java"
    assert is_prerelease("1.0.0.rc1") and not is_prerelease("1.0.0")


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [("1.0", "1.0.0", 0), ("1.9", "1.10", -1), ("1.0.a", "1.0", -1), ("1.0.rc1", "1.0.beta2", 1),
     ("2.0.0.pre", "1.9.9", 1), ("1.0.0.1", "1.0.0", 1), ("1.a", "1.0.b", -1)],
)
def test_versions_compare_like_gem_version(left, right, expected):
    assert compare_versions(left, right) == expected
    assert compare_versions(right, left) == -expected


def test_version_order_agrees_with_ruby():
    require_client("ruby")
    versions = ["1.0", "1.0.0.1", "1.10", "1.9", "1.0.a", "1.0.b2", "1.0.b10", "2", "0.1", "1.0.rc.1", "1.a"]
    done = subprocess.run(["ruby", "-e", "puts ARGV.sort_by { |v| Gem::Version.new(v) }", *versions],
                          capture_output=True, text=True, check=True)
    assert sorted(versions, key=version_key) == done.stdout.split()


@pytest.mark.parametrize(("given", "kept"), [(4, 4), (3, 3), (-1, -1), (7, 4)])
def test_specification_versions_are_kept_as_gem_specification_loads_them(given, kept):
    text = gemspec_yaml("demo", "1").replace("specification_version: 4", f"specification_version: {given}")
    assert parse(with_yaml(text)).specification_version == kept


@pytest.mark.parametrize("given", [0, -2])
def test_specification_versions_ruby_cannot_load_are_refused(given):
    text = gemspec_yaml("demo", "1").replace("specification_version: 4", f"specification_version: {given}")
    with pytest.raises(InvalidGem, match="specification_version must be one of"):
        parse(with_yaml(text))


@pytest.mark.parametrize("change", [
    ("date: 2024-05-01 00:00:00.000000000 Z", "date: 2024-13-45"),
    ("specification_version: 4", "specification_version: " + "9" * 5000),
], ids=["impossible date", "5000 digits"])
def test_values_yaml_cannot_read_are_refused_in_one_line(change):
    with pytest.raises(InvalidGem, match="metadata.gz") as refused:
        parse(with_yaml(gemspec_yaml("demo", "1.0").replace(*change)))
    assert "\n" not in str(refused.value)


def test_a_bad_date_in_checksums_is_refused():
    members = gem_members(gemspec_yaml("demo", "1"))
    members["checksums.yaml.gz"] = gzip.compress(b"---\nSHA256:\n  metadata.gz: 2024-13-45\n")
    with pytest.raises(InvalidGem, match="checksums.yaml.gz holds a value that cannot be read"):
        parse(tar_of(members))


@pytest.mark.parametrize("document", [
    b"- a\n" * (metadata.MAX_YAML_NODES - 10),
    b"a: " + b"x" * (metadata.MAX_METADATA_YAML - 10),
], ids=["the most nodes", "the longest scalar"])
def test_the_largest_yaml_accepted_is_read_within_a_second(document):
    """Found by the fuzz run: Python's YAML scanner took 12 s over a 4 MiB scalar, 30 s over 100,000
    nodes."""
    # CPU time of this thread: what a worker is kept busy for, whatever else the machine runs.
    started = time.thread_time()
    metadata.load_gemspec_yaml(document)
    assert time.thread_time() - started < 1

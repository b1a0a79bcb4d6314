"""The compact index and the legacy Marshal indexes, the Marshal ones loaded by the real ruby."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib

from appliance.formats.rubygems import index, metadata
from appliance.formats.rubygems.index import IndexedGem
from appliance.formats.rubygems.metadata import Dependency, GemSpec

RACK = Dependency("rack", [(">=", "2"), ("<", "4")])
RAKE = Dependency("rake", [(">=", "0")], "development")


def spec(version: str, platform: str = "ruby", **fields) -> GemSpec:
    return GemSpec(name="demo", version=version, platform=platform, summary="A demo", authors=["A"],
                   licenses=["MIT"], metadata={"github_repo": "acme/demo"}, dependencies=[RACK, RAKE],
                   rubygems_version="3.3.15", date="2024-05-01", **fields)


def test_info_file_lists_versions_in_publish_order_with_runtime_dependencies_and_checksums():
    gems = [IndexedGem(spec("1.0.0"), "a" * 64),
            IndexedGem(spec("1.0.0", "x86_64-linux", required_ruby_version=[(">=", "2.7"), ("<", "4")]), "b" * 64),
            IndexedGem(GemSpec(name="demo", version="0.9.pre", required_rubygems_version=[(">", "1.3.1")]),
                       "c" * 64)]
    assert index.info_file(gems).decode() == (
        "---\n"
        f"1.0.0 rack:>= 2&< 4|checksum:{'a' * 64}\n"
        f"1.0.0-x86_64-linux rack:>= 2&< 4|checksum:{'b' * 64},ruby:>= 2.7&< 4\n"
        f"0.9.pre |checksum:{'c' * 64},rubygems:> 1.3.1\n")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_versions_file_replays_pushes_and_yanks_in_order_with_the_info_md5_of_the_moment():
    day = dt.datetime(2024, 5, 1, 12, 30)
    one, java, two = (IndexedGem(spec("1.0.0"), "a" * 64), IndexedGem(spec("1.0.0", "java"), "b" * 64),
                      IndexedGem(spec("2.0.0"), "c" * 64))
    other = IndexedGem(GemSpec(name="other", version="0.1"), "d" * 64)
    histories = [
        ("demo", [index.VersionHistory(one, day), index.VersionHistory(java, day + dt.timedelta(hours=2)),
                  index.VersionHistory(two, day + dt.timedelta(hours=3), yanked_at=day + dt.timedelta(hours=4))]),
        ("other", [index.VersionHistory(other, day + dt.timedelta(hours=1))]),
    ]
    body = versions_of(day, histories)
    assert body == (
        "created_at: 2024-05-01T12:30:00Z\n---\n"
        f"demo 1.0.0 {md5(index.info_file([one]))}\n"
        f"other 0.1 {md5(index.info_file([other]))}\n"
        f"demo 1.0.0-java {md5(index.info_file([one, java]))}\n"
        f"demo 2.0.0 {md5(index.info_file([one, java, two]))}\n"
        f"demo -2.0.0 {md5(index.info_file([one, java]))}\n")
    # what happens next is appended: the file as it was is a prefix of the file as it is
    histories[1][1].append(index.VersionHistory(IndexedGem(GemSpec(name="other", version="0.2"), "e" * 64),
                                                day + dt.timedelta(hours=5)))
    assert versions_of(day, histories).startswith(body)


def versions_of(created: dt.datetime, histories) -> str:
    return index.versions_file(created, [index.versions_events(package_id, name, versions)
                                         for package_id, (name, versions) in enumerate(histories)]).decode()


def test_versions_md5s_after_a_yank_in_the_middle_and_pushes_after_it():
    day = dt.datetime(2024, 5, 1)
    gems = [IndexedGem(spec(f"1.{minor}.0"), f"{minor:064d}") for minor in range(4)]
    hour = dt.timedelta(hours=1)
    history = [index.VersionHistory(gems[0], day), index.VersionHistory(gems[1], day + hour, yanked_at=day + 3 * hour),
               index.VersionHistory(gems[2], day + 2 * hour), index.VersionHistory(gems[3], day + 4 * hour)]
    lines = versions_of(day, [("demo", history)]).splitlines()[2:]
    assert lines == [f"demo 1.0.0 {md5(index.info_file(gems[:1]))}",
                     f"demo 1.1.0 {md5(index.info_file(gems[:2]))}",
                     f"demo 1.2.0 {md5(index.info_file(gems[:3]))}",
                     f"demo -1.1.0 {md5(index.info_file([gems[0], gems[2]]))}",
                     f"demo 1.3.0 {md5(index.info_file([gems[0], gems[2], gems[3]]))}"]


def test_names_file_is_sorted():
    assert index.names_file(["b", "a"]) == b"---\na\nb\n"


SPECS = [spec("1.0.0"), spec("1.10.0"), spec("1.9.0"), spec("2.0.0.rc1"), spec("1.9.0", "java")]
LOAD_SPECS = ("require 'rubygems'; Marshal.load(Gem::Util.gunzip(File.binread(ARGV[0])))"
              ".each { |n, v, p| puts [n, v.class, v, p].join(' ') }")


def test_specs_index_holds_every_release(ruby):
    assert ruby(LOAD_SPECS, index.specs_index(SPECS)).splitlines() == [
        "demo Gem::Version 1.0.0 ruby", "demo Gem::Version 1.9.0 java", "demo Gem::Version 1.9.0 ruby",
        "demo Gem::Version 1.10.0 ruby"]


def test_latest_specs_index_holds_the_newest_release_per_platform(ruby):
    assert sorted(ruby(LOAD_SPECS, index.latest_specs_index(SPECS)).splitlines()) == [
        "demo Gem::Version 1.10.0 ruby", "demo Gem::Version 1.9.0 java"]


def test_prerelease_specs_index(ruby):
    assert ruby(LOAD_SPECS, index.prerelease_specs_index(SPECS)).splitlines() == ["demo Gem::Version 2.0.0.rc1 ruby"]


def test_specs_indexes_are_stable_bytes():
    assert index.specs_index(SPECS) == index.specs_index(list(reversed(SPECS)))
    assert gzip.decompress(index.specs_index([])) == b"\x04\x08[\x00"


def test_quick_spec_loads_as_a_gem_specification(ruby):
    # (`_load` puts the licenses in @license, which nothing reads: rubygems' own quirk, not checked here.)
    script = ("require 'rubygems'; s = Marshal.load(Gem::Util.inflate(File.binread(ARGV[0]))); "
              "puts s.class, s.full_name, s.version.prerelease?, s.platform, s.summary, s.authors.inspect, "
              "s.date.strftime('%F'), s.required_ruby_version, s.metadata.inspect, "
              "s.dependencies.map { |d| [d.name, d.type, d.requirement].join(' ') }.inspect, "
              "s.runtime_dependencies.size")
    out = ruby(script, index.quick_spec(spec("2.0.0.rc1", "x86_64-linux", required_ruby_version=[(">=", "2.7")])))
    assert out.splitlines() == [
        "Gem::Specification", "demo-2.0.0.rc1-x86_64-linux", "true", "x86_64-linux", "A demo", '["A"]',
        "2024-05-01", ">= 2.7", '{"github_repo"=>"acme/demo"}',
        '["rack runtime >= 2, < 4", "rake development >= 0"]', "1"]


def test_quick_spec_of_a_plain_gem_matches_the_platform_in_ruby(ruby):
    script = ("require 'rubygems'; s = Marshal.load(Gem::Util.inflate(File.binread(ARGV[0]))); "
              "puts s.full_name, Gem::Platform.match_spec?(s), s.original_platform")
    assert ruby(script, index.quick_spec(spec("1.0.0"))).split() == ["demo-1.0.0", "true", "ruby"]


def test_dependencies_marshal(ruby):
    script = "p Marshal.load(File.binread(ARGV[0]))"
    out = ruby(script, index.dependencies_marshal([spec("1.0.0"), spec("1.0.0", "java")]))
    assert out.strip() == (
        '[{:name=>"demo", :number=>"1.0.0", :platform=>"ruby", :dependencies=>[["rack", ">= 2, < 4"]]}, '
        '{:name=>"demo", :number=>"1.0.0", :platform=>"java", :dependencies=>[["rack", ">= 2, < 4"]]}]')


def test_dependencies_json():
    assert index.dependencies_json([spec("1.0.0")]) == (
        b'[{"name":"demo","number":"1.0.0","platform":"ruby","dependencies":[["rack",">= 2, < 4"]]}]')


def test_quick_specs_of_every_specification_version_load(ruby):
    script = "require 'rubygems'; puts Marshal.load(Gem::Util.inflate(File.binread(ARGV[0]))).full_name"
    for version in metadata.SPECIFICATION_VERSIONS:
        assert ruby(script, index.quick_spec(spec("1.0.0", specification_version=version))).strip() == "demo-1.0.0"


def test_versions_log_appends_pushes_and_yanks_and_rebuilds_after_a_restore():
    day = dt.datetime(2024, 5, 1)
    hour = dt.timedelta(hours=1)
    gems = [IndexedGem(spec(f"1.{minor}.0"), f"{minor:064d}") for minor in range(3)]
    other = IndexedGem(GemSpec(name="other", version="0.1"), "f" * 64)
    demo = [index.VersionHistory(gems[0], day), index.VersionHistory(gems[1], day + hour)]

    def events(demo_history, other_history=None):
        found = {1: index.versions_events(1, "demo", demo_history)}
        if other_history is not None:
            found[2] = index.versions_events(2, "other", other_history)
        return found

    log = index.VersionsLog.build(day, events(demo))
    # A push, a new gem and a yank, all later than the last line: appended, byte for byte the full file.
    demo.append(index.VersionHistory(gems[2], day + 3 * hour))
    demo[0] = index.VersionHistory(gems[0], day, yanked_at=day + 4 * hour)
    others = [index.VersionHistory(other, day + 2 * hour)]
    appended = log.appended(day, events(demo, others))
    assert appended is not None and appended.body.startswith(log.body)
    assert appended.body == index.VersionsLog.build(day, events(demo, others)).body
    # A restore takes a line out of the middle: no longer an append.
    demo[0] = index.VersionHistory(gems[0], day)
    assert appended.appended(day, events(demo, others)) is None
    # Nor is a gem that is gone, or a new gem older than the last line.
    assert appended.appended(day, events(demo)) is None
    late = index.VersionsLog.build(day, events(demo))
    assert late.appended(day, events(demo, [index.VersionHistory(other, day)])) is None

"""The Marshal writer, checked by loading what it writes with the real ruby."""
from __future__ import annotations

import pytest

from appliance.formats.rubygems import marshal
from appliance.formats.rubygems.marshal import (
    RubyObject,
    Symbol,
    UserDump,
    UserMarshal,
    gem_requirement,
    gem_version,
)

LOAD = "require 'rubygems'; p Marshal.load(File.binread(ARGV[0]))"


@pytest.mark.parametrize(
    ("value", "inspected"),
    [
        (None, "nil"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1, "1"),
        (122, "122"),
        (123, "123"),
        (-1, "-1"),
        (-123, "-123"),
        (-124, "-124"),
        (255, "255"),
        (256, "256"),
        (-256, "-256"),
        (-257, "-257"),
        (65536, "65536"),
        (2**30 - 1, str(2**30 - 1)),
        (-(2**30), str(-(2**30))),
        ("", '""'),
        ("héllo", '"héllo"'),
        (b"\x00\xff", '"\\x00\\xFF"'),
        (Symbol("runtime"), ":runtime"),
        ([Symbol("ünï"), Symbol("ünï"), "x"], '[:ünï, :ünï, "x"]'),
        ([Symbol("a"), Symbol("b"), Symbol("a"), [Symbol("b")]], "[:a, :b, :a, [:b]]"),
        ({Symbol("name"): "x", "k": [1, None]}, '{:name=>"x", "k"=>[1, nil]}'),
        (list(range(300)), repr(list(range(300)))),
    ],
)
def test_values_load_in_ruby(ruby, value, inspected):
    assert ruby(LOAD, marshal.dumps(value)).strip() == inspected


def test_strings_are_utf8_and_bytes_are_binary(ruby):
    script = "a, b = Marshal.load(File.binread(ARGV[0])); puts a.encoding, b.encoding"
    assert ruby(script, marshal.dumps(["ü", b"\xc3"])).split() == ["UTF-8", "ASCII-8BIT"]


def test_gem_version_and_requirement(ruby):
    script = ("require 'rubygems'; v, r = Marshal.load(File.binread(ARGV[0])); "
              "puts v.class, v, v.prerelease?, r.class, r, r.satisfied_by?(Gem::Version.new('1.5'))")
    data = marshal.dumps([gem_version("2.0.0.rc1"), gem_requirement([("~>", "1.0"), (">=", "1.2")])])
    assert ruby(script, data).splitlines() == ["Gem::Version", "2.0.0.rc1", "true", "Gem::Requirement",
                                               "~> 1.0, >= 1.2", "true"]


def test_objects_and_user_dumps(ruby):
    script = ("class Thing; attr_reader :a, :b; def self._load(s); Marshal.load(s); end; end; "
              "t, u = Marshal.load(File.binread(ARGV[0])); p t.a, t.b, u")
    inner = marshal.dumps([1, "two"])
    data = marshal.dumps([RubyObject("Thing", {"a": Symbol("x"), "b": [Symbol("x")]}), UserDump("Thing", inner)])
    assert ruby(script, data).splitlines() == [":x", "[:x]", '[1, "two"]']


def test_symbol_links_are_per_stream(ruby):
    script = "require 'rubygems'; p Marshal.load(File.binread(ARGV[0])).map(&:to_s)"
    data = marshal.dumps([gem_version("1.0"), gem_version("2.0"), UserMarshal("Gem::Version", ["3.0"])])
    assert ruby(script, data).strip() == '["1.0", "2.0", "3.0"]'


@pytest.mark.parametrize("value", [2**30, -(2**30) - 1, 1.5, object(), {1, 2}])
def test_unsupported_values_are_refused(value):
    with pytest.raises(TypeError):
        marshal.dumps(value)

"""Ruby's Marshal format 4.8, written (never read) in pure Python: what `gem` and `bundler` load from
the legacy indexes (specs.4.8.gz, quick/Marshal.4.8/*.gemspec.rz) and the dependency API.

Only what those documents hold: nil, true, false, Integer, String (UTF-8, or binary), Symbol, Array,
Hash, and the Ruby objects named below. Objects are never linked ('@'), so every value is written out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MAJOR, MINOR = 4, 8
FIXNUM_MAX = 2**30 - 1
FIXNUM_MIN = -(2**30)


@dataclass(frozen=True)
class Symbol:
    """A Ruby Symbol (`:runtime`), as opposed to a String."""

    name: str


@dataclass(frozen=True)
class UserMarshal:
    """An object that Ruby rebuilds with `marshal_load(data)` (Gem::Version, Gem::Requirement): 'U'."""

    class_name: str
    data: object


@dataclass(frozen=True)
class UserDump:
    """An object that Ruby rebuilds with `ClassName._load(bytes)` (Gem::Specification): 'u'."""

    class_name: str
    payload: bytes


@dataclass(frozen=True)
class RubyObject:
    """A plain object rebuilt from its instance variables (Gem::Dependency): 'o'."""

    class_name: str
    ivars: dict[str, object] = field(default_factory=dict)  # names without the '@'


def dumps(value: object) -> bytes:
    """`Marshal.dump(value)` for the values this module knows; TypeError for any other."""
    writer = _Writer()
    writer.out += bytes((MAJOR, MINOR))
    writer.value(value)
    return bytes(writer.out)


def gem_version(version: str) -> UserMarshal:
    """A Gem::Version: `marshal_dump` is `[version_string]`."""
    return UserMarshal("Gem::Version", [version])


def gem_requirement(requirements: list[tuple[str, str]]) -> UserMarshal:
    """A Gem::Requirement of (operator, version) pairs: `marshal_dump` is `[[[op, Gem::Version], ...]]`."""
    return UserMarshal("Gem::Requirement", [[[op, gem_version(version)] for op, version in requirements]])


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()
        self.symbols: dict[str, int] = {}

    def long(self, number: int) -> None:
        """Ruby's w_long: small numbers in one byte, others in 1 to 4 little-endian bytes after a length."""
        if not FIXNUM_MIN <= number <= FIXNUM_MAX:
            raise TypeError(f"integer {number} is outside the Fixnum range this writer supports")
        if number == 0:
            self.out.append(0)
        elif 0 < number < 123:
            self.out.append(number + 5)
        elif -124 < number < 0:
            self.out.append((number - 5) & 0xFF)
        else:
            payload = bytearray()
            rest = number
            for _ in range(4):
                payload.append(rest & 0xFF)
                rest >>= 8
                if rest == (0 if number > 0 else -1):
                    break
            self.out.append(len(payload) if number > 0 else (-len(payload)) & 0xFF)
            self.out += payload

    def raw(self, data: bytes) -> None:
        self.long(len(data))
        self.out += data

    def symbol(self, name: str) -> None:
        index = self.symbols.get(name)
        if index is not None:
            self.out += b";"
            self.long(index)
            return
        self.symbols[name] = len(self.symbols)
        encoded = name.encode()
        if encoded.isascii():
            self.out += b":"
            self.raw(encoded)
        else:
            # A non-ASCII symbol carries its encoding like a string does.
            self.out += b"I:"
            self.raw(encoded)
            self.long(1)
            self.symbol("E")
            self.out += b"T"

    def value(self, value: object) -> None:
        if value is None:
            self.out += b"0"
        elif value is True:
            self.out += b"T"
        elif value is False:
            self.out += b"F"
        elif isinstance(value, int):
            self.out += b"i"
            self.long(value)
        elif isinstance(value, str):
            # UTF-8 strings carry the ivar E=true, as Ruby writes them.
            self.out += b'I"'
            self.raw(value.encode())
            self.long(1)
            self.symbol("E")
            self.out += b"T"
        elif isinstance(value, bytes | bytearray):
            self.out += b'"'
            self.raw(bytes(value))
        elif isinstance(value, Symbol):
            self.symbol(value.name)
        elif isinstance(value, list | tuple):
            self.out += b"["
            self.long(len(value))
            for item in value:
                self.value(item)
        elif isinstance(value, dict):
            self.out += b"{"
            self.long(len(value))
            for key, item in value.items():
                self.value(key)
                self.value(item)
        elif isinstance(value, UserMarshal):
            self.out += b"U"
            self.symbol(value.class_name)
            self.value(value.data)
        elif isinstance(value, UserDump):
            self.out += b"u"
            self.symbol(value.class_name)
            self.raw(value.payload)
        elif isinstance(value, RubyObject):
            self.out += b"o"
            self.symbol(value.class_name)
            self.long(len(value.ivars))
            for name, item in value.ivars.items():
                self.symbol(f"@{name}")
                self.value(item)
        else:
            raise TypeError(f"cannot write {type(value).__name__} in Marshal format")

"""The npm registry protocol: package names, versions, integrity strings, publish bodies, packuments.

Pure parsing: bytes and dicts in, dicts and InvalidPackage out. Nothing here knows about Flask, the
database or storage; the npm blueprint feeds request bodies in and hands what comes out to the
packages service.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from appliance.formats.repository_links import parse_repository_reference


class InvalidPackage(ValueError):
    """Anything wrong with what the client sent; str(e) is a one-line message a user can act on."""


# --- names -----------------------------------------------------------------------------------------

MAX_NAME_LENGTH = 214
# npm's rule is "what encodeURIComponent leaves alone"; of that set new packages may not use ~'!()*,
# and neither may an owner login, which is what the scope is here.
_NAME_PART = re.compile(r"[a-z0-9._-]+")
_ENCODED_SLASH = re.compile(r"%2f", re.IGNORECASE)


def parse_package_name(name: str) -> tuple[str, str]:
    """'@scope/name' (or the URL form '@scope%2fname') -> ('scope', 'name'), by npm's rules for new packages.

    Every package on this registry is scoped by its owner's login. Raises InvalidPackage saying what is
    wrong with the name.
    """
    if not isinstance(name, str) or not name:
        raise InvalidPackage("package name is empty")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise InvalidPackage(f"package name {name!r} must not contain whitespace or control characters")
    if not name.startswith("@"):
        raise InvalidPackage(f"packages on this registry are scoped: @OWNER/NAME, not {name!r}")
    # npm puts a scoped name in a URL path as '@scope%2fname'; only that one slash may come encoded.
    canonical = _ENCODED_SLASH.sub("/", name, count=1) if "/" not in name else name
    scope, slash, short = canonical[1:].partition("/")
    if not slash or "/" in short:
        raise InvalidPackage(f"package name {name!r} must have the form @OWNER/NAME with exactly one '/'")
    if not scope:
        raise InvalidPackage(f"package name {name!r} has an empty scope: use @OWNER/NAME")
    if not short:
        raise InvalidPackage(f"package name {name!r} has nothing after the scope: use @OWNER/NAME")
    if len(canonical) > MAX_NAME_LENGTH:
        raise InvalidPackage(f"package name is longer than {MAX_NAME_LENGTH} characters")
    if canonical != canonical.lower():
        raise InvalidPackage(f"package name {canonical!r} must be lower case")
    for part in (scope, short):
        if not _NAME_PART.fullmatch(part):
            raise InvalidPackage(
                f"package name {canonical!r} may only contain a-z, 0-9, '-', '.' and '_' in the scope and name"
            )
        if part[0] in "._":
            raise InvalidPackage(f"package name {canonical!r}: {part!r} must not start with '.' or '_'")
    return scope, short


# --- versions --------------------------------------------------------------------------------------

MAX_VERSION_LENGTH = 256  # node-semver's MAX_LENGTH
_MAX_SAFE_INTEGER = 2**53 - 1  # node-semver refuses numeric parts JavaScript cannot hold exactly
_NUMERIC = r"(?:0|[1-9][0-9]*)"
_PRERELEASE_ID = rf"(?:{_NUMERIC}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"({_NUMERIC})\.({_NUMERIC})\.({_NUMERIC})"
    rf"(?:-({_PRERELEASE_ID}(?:\.{_PRERELEASE_ID})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)


def validate_version(version: str) -> str:
    """A strict semver 2.0.0 version (node-semver, loose=false) -> its clean form; InvalidPackage otherwise.

    Surrounding whitespace and leading 'v'/'=' are stripped as semver.clean does. Build metadata is kept;
    its grammar already rules out '/' and '..', so the result is safe in a file name.
    """
    if not isinstance(version, str):
        raise InvalidPackage("version must be a string")
    clean = version.strip().lstrip("=v")
    if len(clean) > MAX_VERSION_LENGTH:
        raise InvalidPackage(f"version is longer than {MAX_VERSION_LENGTH} characters")
    match = _SEMVER.fullmatch(clean)
    if match is None:
        raise InvalidPackage(
            f"version {version!r} is not a valid semver version such as 1.2.3 or 1.2.3-beta.1"
        )
    if any(int(part) > _MAX_SAFE_INTEGER for part in match.group(1, 2, 3)):
        raise InvalidPackage(f"version {version!r} has a number larger than {_MAX_SAFE_INTEGER}")
    return clean


def is_valid_version(value: str) -> bool:
    """Whether validate_version would accept `value` (a dist-tag must not be one)."""
    try:
        validate_version(value)
    except InvalidPackage:
        return False
    return True


def _precedence(version: str) -> tuple:
    """Sort key by semver precedence; build metadata is ignored, as the spec says."""
    match = _SEMVER.fullmatch(version)
    if match is None:
        return (-1,)
    major, minor, patch, prerelease, _ = match.groups()
    if prerelease is None:
        # a release sorts after every pre-release of the same major.minor.patch
        tail: tuple = (1,)
    else:
        tail = (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in prerelease.split(".")))
    return (int(major), int(minor), int(patch), tail)


def tarball_filename(name: str, version: str) -> str:
    """'@scope/pkg', '1.0.0' -> 'pkg-1.0.0.tgz', the file name npm uses for a tarball in URLs."""
    _, short = parse_package_name(name)
    return f"{short}-{validate_version(version)}.tgz"


# --- integrity -------------------------------------------------------------------------------------

_DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
# Subresource Integrity: 'algo-base64' with an optional '?options' suffix that we do not use.
_SRI_ENTRY = re.compile(r"([A-Za-z0-9]+)-([A-Za-z0-9+/]+={0,2})(?:\?[\x21-\x7e]*)?")


def parse_integrity(value: str) -> dict[str, str]:
    """An SRI string ('sha512-<base64> sha1-<base64>') -> {'sha512': hexdigest, ...} for sha1/256/384/512.

    Entries with other algorithms are ignored; anything malformed raises InvalidPackage.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidPackage("dist.integrity is empty")
    digests: dict[str, str] = {}
    for entry in value.split():
        match = _SRI_ENTRY.fullmatch(entry)
        if match is None:
            raise InvalidPackage(
                f"integrity entry {entry[:40]!r} is not of the form 'sha512-<base64 digest>'"
            )
        algorithm = match.group(1).lower()
        size = _DIGEST_SIZES.get(algorithm)
        if size is None:
            continue
        try:
            raw = base64.b64decode(match.group(2), validate=True)
        except binascii.Error:
            raise InvalidPackage(
                f"the {algorithm} digest in the integrity string is not valid base64"
            ) from None
        if len(raw) != size:
            raise InvalidPackage(
                f"the {algorithm} digest in the integrity string is {len(raw)} bytes, not {size}"
            )
        hexdigest = raw.hex()
        if digests.setdefault(algorithm, hexdigest) != hexdigest:
            raise InvalidPackage(f"the integrity string lists two different {algorithm} digests")
    return digests


def integrity_of(algorithm: str, hexdigest: str) -> str:
    """'sha512', hexdigest -> 'sha512-<base64>', the form npm keeps in dist.integrity."""
    size = _DIGEST_SIZES.get(algorithm)
    if size is None:
        raise ValueError(f"unsupported integrity algorithm {algorithm!r}")
    raw = bytes.fromhex(hexdigest)
    if len(raw) != size:
        raise ValueError(f"a {algorithm} digest is {size} bytes, got {len(raw)}")
    return f"{algorithm}-{base64.b64encode(raw).decode('ascii')}"


# --- publish body ----------------------------------------------------------------------------------

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
_CHUNK_SIZE = 1 << 20
_BASE64_BATCH = 1 << 20  # base64 characters decoded at once: bounds memory, keeps calls few
_MAX_DEPTH = 512  # a package document is a few levels deep; this stops '[[[[...' from eating memory
# What json.loads may build from one document: 16 MiB of "1,1,1,..." or "[],[],..." grows a worker by
# hundreds of MB. This leaves room for a packument of about a thousand versions.
MAX_DOCUMENT_TOKENS = 200_000
# The document, its _attachments and each attachment are scanned a Python step per member (their members
# decide where attachment data is); npm sends about twenty between them, a packument sent back not many more.
MAX_SCANNED_MEMBERS = 1_000

_QUOTE, _BACKSLASH, _COLON_BYTE, _COMMA = b'"'[0], b"\\"[0], b":"[0], b","[0]
_LBRACE, _RBRACE, _LBRACKET, _RBRACKET = b"{"[0], b"}"[0], b"["[0], b"]"[0]
_SCALAR_START = frozenset(b"-0123456789tfn")
_SCALAR = re.compile(rb"[-+.0-9A-Za-z]*")
_SPACE = re.compile(rb"[ \t\r\n]*")
# Inside a value that cannot hold attachment data (anything but the document, its _attachments and each
# attachment) only brackets matter: a run of everything else, whole strings included, is copied by one
# match instead of a Python step per value (a step per value kept a worker busy for seconds near the cap).
_PLAIN_RUN = re.compile(rb'[^"\[\]{}]*+(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"[^"\[\]{}]*+)*+', re.DOTALL)
_STRING_LITERAL = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
# the only escapes that can stand for a base64 character; '\/' is what JSON encoders emit for '/'
_UNICODE_ESCAPE = re.compile(rb"\\u([0-9A-Fa-f]{4})")

# what the splitter is looking at
_START, _VALUE, _KEY, _COLON, _AFTER, _STRING, _DATA, _SCALAR_MODE, _END, _PLAIN_MODE = range(10)
# objects whose members decide where attachment data is
_PLAIN, _ROOT, _ATTACHMENTS, _ATTACHMENT = range(4)


class _Frame:
    """One open object or array, and for objects the member whose value comes next."""

    __slots__ = ("is_object", "key", "name", "role", "seen")

    def __init__(self, is_object: bool, role: int = _PLAIN, name: str | None = None) -> None:
        self.is_object = is_object
        self.role = role
        self.name = name  # the attachment's name, for an _ATTACHMENT frame
        self.key: str | None = None
        self.seen: set[str] = set()


def _unicode_escape_byte(match: re.Match[bytes]) -> bytes:
    code = int(match.group(1), 16)
    # anything outside ASCII cannot be base64; a backslash left in place makes the decoder refuse it
    return bytes([code]) if code < 0x80 else b"\\"


class _BodySplitter:
    """Copies a JSON body into a small document, streaming attachment data out as it goes.

    Strings, scalars and punctuation outside attachment data are copied byte for byte (whitespace only
    inside values that cannot hold attachment data); each `_attachments.NAME.data` string is replaced by null in the copy and decoded to the
    sink instead. The copy is then parsed by json.loads, which is what finally vouches for its syntax;
    the scan here only tracks enough structure to know where the data strings are.
    """

    def __init__(self, open_sink: Callable[[str], BinaryIO], max_document_bytes: int) -> None:
        self._open_sink = open_sink
        self._max_document_bytes = max_document_bytes
        self._tokens_left = MAX_DOCUMENT_TOKENS
        self._members_left = MAX_SCANNED_MEMBERS
        self._out = bytearray()
        self._stack: list[_Frame] = []
        self._plain_open = bytearray()  # the brackets open inside a value that holds no attachment data
        self._mode = _START
        self._offset = 0  # body bytes before the current chunk, to say where a syntax error is
        self._key: bytearray | None = None  # raw member name while one is being read
        self._backslashes = 0  # length of the run of backslashes ending the string read so far
        self._streamed: set[str] = set()
        self._attachment: str | None = None
        self._sink: BinaryIO | None = None
        self._base64 = bytearray()
        self._padded = False
        self._carry = b""  # an escape sequence cut by the end of a chunk

    # feeding

    def feed(self, chunk: bytes) -> None:
        pos, end = 0, len(chunk)
        while pos < end:
            mode = self._mode
            if mode == _DATA:
                pos = self._data(chunk, pos)
            elif mode == _STRING:
                pos = self._string(chunk, pos)
            elif mode == _PLAIN_MODE:
                pos = self._plain(chunk, pos)
            elif mode == _SCALAR_MODE:
                pos = self._scalar(chunk, pos)
            else:
                pos = _SPACE.match(chunk, pos).end()
                if pos < end:
                    self._count(1)
                    self._structural(chunk[pos], pos)
                    pos += 1
        self._offset += end

    def _count(self, tokens: int) -> None:
        self._tokens_left -= tokens
        if self._tokens_left < 0:
            raise InvalidPackage(
                f"the package document has more than {MAX_DOCUMENT_TOKENS} JSON values and "
                f"punctuation marks: this registry reads smaller ones")

    def finish(self) -> dict:
        if self._mode == _START:
            raise InvalidPackage("the request body is empty; expected a JSON package document")
        if self._mode != _END:
            raise InvalidPackage("the request body ended before the JSON document did")
        try:
            document = json.loads(self._out)
        except UnicodeDecodeError:
            raise InvalidPackage("the request body is not UTF-8 encoded JSON") from None
        except json.JSONDecodeError as error:
            raise InvalidPackage(f"the request body is not valid JSON: {error.msg}") from None
        except RecursionError:
            raise InvalidPackage("the request body is nested too deeply") from None
        attachments = document.get("_attachments")
        if attachments is not None:
            for name, attachment in attachments.items():
                if name in self._streamed:
                    attachment.pop("data", None)
                elif "data" in attachment:
                    raise InvalidPackage(f"attachment {name!r}: data must be a base64 string")
        return document

    # structure

    def _malformed(self, pos: int, expected: str) -> InvalidPackage:
        return InvalidPackage(
            f"the request body is not valid JSON: expected {expected} at byte {self._offset + pos}"
        )

    def _emit(self, data: bytes) -> None:
        self._out += data
        if self._key is not None:
            self._key += data
        if len(self._out) > self._max_document_bytes:
            raise InvalidPackage(
                f"package document is too large: over {self._max_document_bytes} bytes besides the tarball"
            )

    def _structural(self, byte: int, pos: int) -> None:
        mode = self._mode
        if mode == _START:
            if byte != _LBRACE:
                raise InvalidPackage("the request body must be a JSON object (the package document)")
            self._open(_Frame(True, _ROOT))
        elif mode == _END:
            raise self._malformed(pos, "nothing after the end of the document")
        elif mode == _KEY:
            if byte == _QUOTE:
                self._begin_string(is_key=True)
            elif byte == _RBRACE:
                self._close(byte, pos)
            else:
                raise self._malformed(pos, "a member name in quotes")
        elif mode == _COLON:
            if byte != _COLON_BYTE:
                raise self._malformed(pos, "':'")
            self._emit(b":")
            self._mode = _VALUE
        elif mode == _AFTER:
            if byte == _COMMA:
                self._emit(b",")
                self._mode = _KEY if self._stack[-1].is_object else _VALUE
            elif byte in (_RBRACE, _RBRACKET):
                self._close(byte, pos)
            else:
                raise self._malformed(pos, "',' or the end of an object or array")
        elif byte == _RBRACKET and not self._stack[-1].is_object:
            self._close(byte, pos)  # an empty array; json.loads refuses '[1,]' later
        else:
            self._begin_value(byte, pos)

    def _begin_value(self, byte: int, pos: int) -> None:
        frame = self._stack[-1]
        role, key = (frame.role, frame.key) if frame.is_object else (_PLAIN, None)
        if role == _ROOT and key == "_attachments":
            if byte != _LBRACE:
                raise InvalidPackage("_attachments must be an object mapping file names to attachments")
            self._open(_Frame(True, _ATTACHMENTS))
        elif role == _ATTACHMENTS:
            if byte != _LBRACE:
                raise InvalidPackage(
                    f"attachment {key!r} must be an object with content_type, data and length"
                )
            self._open(_Frame(True, _ATTACHMENT, name=key))
        elif role == _ATTACHMENT and key == "data" and byte == _QUOTE:
            self._begin_data(frame.name)
        elif byte in (_LBRACE, _LBRACKET):
            if len(self._stack) >= _MAX_DEPTH:
                raise InvalidPackage("the request body is nested too deeply")
            self._emit(bytes([byte]))
            self._plain_open.append(byte)
            self._mode = _PLAIN_MODE
        elif byte == _QUOTE:
            self._begin_string(is_key=False)
        elif byte in _SCALAR_START:
            self._emit(bytes([byte]))
            self._mode = _SCALAR_MODE
        else:
            raise self._malformed(pos, "a value")

    def _open(self, frame: _Frame) -> None:
        if len(self._stack) >= _MAX_DEPTH:
            raise InvalidPackage("the request body is nested too deeply")
        self._emit(b"{" if frame.is_object else b"[")
        self._stack.append(frame)
        self._mode = _KEY if frame.is_object else _VALUE

    def _close(self, byte: int, pos: int) -> None:
        frame = self._stack.pop()
        if (byte == _RBRACE) != frame.is_object:
            raise self._malformed(pos, "'}'" if frame.is_object else "']'")
        self._emit(bytes([byte]))
        self._mode = _AFTER if self._stack else _END

    def _end_key(self) -> None:
        self._members_left -= 1
        if self._members_left < 0:
            raise InvalidPackage(
                f"the package document, its _attachments and their attachments have more than "
                f"{MAX_SCANNED_MEMBERS} members between them: this registry reads fewer")
        raw = bytes(self._key)
        self._key = None
        try:
            # most names have no escape; json.loads of the whole copy still vouches for their bytes
            key = json.loads(b'"' + raw) if b"\\" in raw else raw[:-1].decode("utf-8", "replace")
        except ValueError:
            raise InvalidPackage(
                "the request body is not valid JSON: a member name is not a valid string"
            ) from None
        frame = self._stack[-1]
        # json.loads keeps the last of duplicate members; data already streamed would then disagree with it
        if (
            (frame.role == _ROOT and key == "_attachments")
            or frame.role == _ATTACHMENTS
            or (frame.role == _ATTACHMENT and key == "data")
        ):
            if key in frame.seen:
                where = f"attachment {frame.name!r}" if frame.role == _ATTACHMENT else "the document"
                raise InvalidPackage(f"{where} has {key!r} more than once")
            frame.seen.add(key)
        frame.key = key
        self._mode = _COLON

    # strings and scalars

    def _begin_string(self, *, is_key: bool) -> None:
        self._emit(b'"')
        # collected from after the opening quote, so a member name ends up as 'name"'
        self._key = bytearray() if is_key else None
        self._backslashes = 0
        self._mode = _STRING

    def _string_part(self, part: bytes) -> None:
        self._emit(part)
        trailing = len(part) - len(part.rstrip(b"\\"))
        self._backslashes = self._backslashes + trailing if trailing == len(part) else trailing

    def _string(self, chunk: bytes, pos: int) -> int:
        # jump from quote to quote; a quote after an odd run of backslashes is part of the string
        while True:
            quote = chunk.find(b'"', pos)
            if quote == -1:
                self._string_part(chunk[pos:])
                return len(chunk)
            self._string_part(chunk[pos:quote])
            escaped = self._backslashes % 2 == 1
            self._string_part(b'"')
            pos = quote + 1
            if not escaped:
                break
        if self._key is not None:
            self._end_key()
        else:
            self._mode = _PLAIN_MODE if self._plain_open else _AFTER
        return pos

    def _plain(self, chunk: bytes, pos: int) -> int:
        """Copy from `pos` inside a value that holds no attachment data up to where the value closes,
        a string the chunk cuts, or the chunk's end; count its commas, colons and brackets outside
        strings as two tokens each (a mark and a value, or an opening and a closing)."""
        start, size, opened = pos, len(chunk), self._plain_open
        while True:
            pos = _PLAIN_RUN.match(chunk, pos).end()
            if pos == size:
                break
            byte = chunk[pos]
            if byte == _QUOTE:
                break
            if byte == _LBRACE or byte == _LBRACKET:
                if len(self._stack) + len(opened) >= _MAX_DEPTH:
                    raise InvalidPackage("the request body is nested too deeply")
                opened.append(byte)
            else:
                opener = opened.pop()
                if (opener == _LBRACE) != (byte == _RBRACE):
                    raise self._malformed(pos, "'}'" if opener == _LBRACE else "']'")
                if not opened:
                    pos += 1
                    self._mode = _AFTER
                    break
            pos += 1
        copied = chunk[start:pos]
        marks = _STRING_LITERAL.sub(b"", copied)
        self._count(2 * (marks.count(b",") + marks.count(b":") + marks.count(b"[") + marks.count(b"{")))
        self._emit(copied)
        if pos < size and chunk[pos] == _QUOTE and self._mode == _PLAIN_MODE:
            self._begin_string(is_key=False)  # continued in the next chunk
            pos += 1
        return pos

    def _scalar(self, chunk: bytes, pos: int) -> int:
        end = _SCALAR.match(chunk, pos).end()
        self._emit(chunk[pos:end])
        if end < len(chunk):
            self._mode = _AFTER
        return end

    # attachment data

    def _begin_data(self, name: str) -> None:
        self._sink = self._open_sink(name)
        self._attachment = name
        self._base64.clear()
        self._padded = False
        self._carry = b""
        self._emit(b"null")
        self._mode = _DATA

    def _bad_base64(self) -> InvalidPackage:
        return InvalidPackage(f"attachment {self._attachment!r}: data is not valid base64")

    def _data(self, chunk: bytes, pos: int) -> int:
        quote = chunk.find(b'"', pos)
        end = len(chunk) if quote == -1 else quote
        text = self._carry + chunk[pos:end] if self._carry else chunk[pos:end]
        self._carry = b""
        if b"\\" in text:
            if quote == -1:
                # keep an escape cut by the chunk's end ('\' or '\u00') for the next chunk
                cut = text.rfind(b"\\", max(0, len(text) - 5))
                if cut != -1 and (cut == len(text) - 1 or text[cut + 1] == ord("u")):
                    text, self._carry = text[:cut], text[cut:]
            elif text.endswith(b"\\"):
                raise self._bad_base64()  # an escaped quote or backslash: neither is base64
            text = text.replace(b"\\/", b"/")
            if b"\\" in text:
                text = _UNICODE_ESCAPE.sub(_unicode_escape_byte, text)
                if b"\\" in text:
                    raise self._bad_base64()
        self._base64 += text
        if quote == -1:
            if len(self._base64) >= _BASE64_BATCH:
                self._decode(final=False)
            return len(chunk)
        self._decode(final=True)
        self._streamed.add(self._attachment)
        self._sink = None
        self._mode = _AFTER
        return quote + 1

    def _decode(self, *, final: bool) -> None:
        usable = len(self._base64) if final else len(self._base64) & ~3
        if not usable:
            return
        if self._padded:
            raise self._bad_base64()  # data after '=' padding
        piece = self._base64[:usable]
        del self._base64[:usable]
        try:
            raw = binascii.a2b_base64(piece, strict_mode=True)
        except binascii.Error:
            raise self._bad_base64() from None
        self._padded = piece.endswith(b"=")
        self._sink.write(raw)


def split_publish_body(
    stream: BinaryIO,
    open_sink: Callable[[str], BinaryIO],
    max_document_bytes: int = MAX_DOCUMENT_BYTES,
) -> dict:
    """Split an npm publish/update body into its document and its attachments, streaming.

    The body is read in chunks. Each `_attachments[NAME].data` base64 string is decoded as it arrives
    and written to `open_sink(NAME)` (opened when its data starts, never closed here); the rest becomes
    the returned document, where each attachment keeps its other fields and has no 'data'. An attachment
    sent without data is left as it is and opens no sink. The document beyond `max_document_bytes`,
    malformed JSON, a body that is not an object, an `_attachments` or attachment that is not an object,
    or data that is not a base64 string raise InvalidPackage; sinks may then hold partial data, which
    the caller discards.
    """
    splitter = _BodySplitter(open_sink, max_document_bytes)
    while True:
        chunk = stream.read(_CHUNK_SIZE)
        if not chunk:
            break
        splitter.feed(chunk if isinstance(chunk, bytes) else bytes(chunk))
    return splitter.finish()


# --- publish document ------------------------------------------------------------------------------

_SHA1_HEX = re.compile(r"[0-9a-fA-F]{40}")
# Tags one request may set: each is a write with its audit entry and webhook deliveries, so thousands
# in one packument kept a worker busy for minutes. npm sets one or two; `npm dist-tag add` sets any more.
MAX_TAGS_PER_REQUEST = 100
_DIST_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# What npm would read as a version or range rather than a tag: 1, v1.2, 1.x, 2.0.0-rc.1, ...
_VERSION_LIKE = re.compile(r"[v=]?[0-9]+(?:\.(?:[0-9]+|[xX*]))*(?:[-+][0-9A-Za-z.-]*)?")


def check_tag_count(count: int) -> None:
    """Refuse a request that would set more than MAX_TAGS_PER_REQUEST dist-tags."""
    if count > MAX_TAGS_PER_REQUEST:
        raise InvalidPackage(f"this request sets {count} dist-tags; one request sets at most "
                             f"{MAX_TAGS_PER_REQUEST}: set the others with npm dist-tag add")


def validate_dist_tag(tag: object) -> str:
    """The one rule for a dist-tag on every path that sets one (publish, `npm dist-tag add`, a
    packument sent back): non-empty, up to 128 letters, digits, '.', '-' and '_' starting with a letter
    or digit, and nothing npm would take for a version or a range."""
    if not isinstance(tag, str) or not _DIST_TAG.fullmatch(tag):
        raise InvalidPackage(
            f"dist-tag {str(tag)[:140]!r} must be 1 to 128 letters, digits, '.', '-' or '_', starting with a "
            f"letter or digit (e.g. latest, next)"
        )
    if is_valid_version(tag) or _VERSION_LIKE.fullmatch(tag):
        raise InvalidPackage(f"dist-tag {tag!r} looks like a version; a tag must not be a version")
    return tag
# manifest fields the registry owns: deprecation is set by `npm deprecate`, the readme is kept once per
# package; '_'-fields are client or registry bookkeeping (_id, _npmUser, _resolved, ...), except the one
# that tells installers whether to look for a shrinkwrap
_REGISTRY_FIELDS = frozenset({"readme", "deprecated"})
_KEPT_UNDERSCORE_FIELDS = frozenset({"_hasShrinkwrap"})


@dataclass(frozen=True)
class PublishRequest:
    """A validated `npm publish`: one new version of one package and its tarball's expected digests."""

    name: str  # '@scope/pkg'
    scope: str
    version: str
    # the version manifest as sent minus registry-owned fields: keys starting with '_' (but
    # _hasShrinkwrap), 'readme', 'deprecated'; dist is reduced to {shasum, integrity}, version is clean
    manifest: dict
    dist_tags: dict[str, str]  # tag -> version as the client asked ({} when it sent none)
    attachment_name: str
    declared_length: int | None
    expected_digests: dict[str, str]  # {'sha1': hex, 'sha512': hex, ...} from dist.shasum and dist.integrity
    readme: str | None


def parse_publish_document(document: dict, url_name: str) -> PublishRequest:
    """Validate the document split_publish_body returned for `PUT /<url_name>` as a publish of one version."""
    scope, short = parse_package_name(url_name)
    name = f"@{scope}/{short}"
    if not isinstance(document, dict):
        raise InvalidPackage("the package document must be a JSON object")
    if document.get("name") != name:
        raise InvalidPackage(f"the document is for package {document.get('name')!r} but was sent to {name!r}")
    if "_id" in document and document["_id"] != name:
        raise InvalidPackage(f"the document's _id {document['_id']!r} does not match the package {name!r}")

    versions = document.get("versions")
    if not isinstance(versions, dict) or not versions:
        raise InvalidPackage("the document has no version to publish")
    if len(versions) != 1:
        raise InvalidPackage(f"a publish carries exactly one version; this one has {len(versions)}")
    ((sent_version, manifest),) = versions.items()
    version = validate_version(sent_version)
    if not isinstance(manifest, dict):
        raise InvalidPackage(f"version {version} must be a package.json object")
    if manifest.get("name") != name:
        raise InvalidPackage(f"version {version} is named {manifest.get('name')!r}, not {name!r}")
    if not isinstance(manifest.get("version"), str) or validate_version(manifest["version"]) != version:
        raise InvalidPackage(f"version {version} says its version is {manifest.get('version')!r}")

    dist = manifest.get("dist")
    if not isinstance(dist, dict):
        raise InvalidPackage(f"version {version} has no dist object; publish with the npm client")
    shasum = dist.get("shasum")
    if not isinstance(shasum, str) or not _SHA1_HEX.fullmatch(shasum):
        raise InvalidPackage("dist.shasum must be the 40-character hex SHA-1 of the tarball")
    integrity = dist.get("integrity")
    if not isinstance(integrity, str):
        raise InvalidPackage("dist.integrity is missing; publish with npm 5 or later")
    digests = parse_integrity(integrity)
    sha1 = shasum.lower()
    if digests.setdefault("sha1", sha1) != sha1:
        raise InvalidPackage("dist.shasum and the sha1 in dist.integrity disagree")

    attachments = document.get("_attachments")
    if not isinstance(attachments, dict) or not attachments:
        raise InvalidPackage("the document has no tarball attachment")
    expected_names = {f"{name}-{version}.tgz", f"{name}-{sent_version}.tgz"}
    if len(attachments) != 1:
        if any(str(key).endswith(".sigstore") for key in attachments):
            raise InvalidPackage(
                "this registry does not take provenance attestations; publish without --provenance"
            )
        raise InvalidPackage(
            f"a publish carries exactly one tarball; this one has {len(attachments)} attachments"
        )
    ((attachment_name, attachment),) = attachments.items()
    if attachment_name not in expected_names:
        raise InvalidPackage(
            f"the tarball is attached as {attachment_name!r}, expected '{name}-{version}.tgz'"
        )
    if not isinstance(attachment, dict):
        raise InvalidPackage(f"attachment {attachment_name!r} must be an object")
    length = attachment.get("length")
    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 0):
        raise InvalidPackage(f"attachment {attachment_name!r}: length must be a non-negative integer")

    return PublishRequest(
        name=name,
        scope=scope,
        version=version,
        manifest=_stored_manifest(manifest, version, sha1, integrity),
        dist_tags=_requested_tags(document.get("dist-tags"), version),
        attachment_name=attachment_name,
        declared_length=length,
        expected_digests=digests,
        readme=_readme(document, manifest),
    )


def _requested_tags(tags: object, version: str) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise InvalidPackage("dist-tags must be an object mapping tags to versions")
    check_tag_count(len(tags))
    requested: dict[str, str] = {}
    for tag, target in tags.items():
        validate_dist_tag(tag)
        try:
            points_here = isinstance(target, str) and validate_version(target) == version
        except InvalidPackage:
            points_here = False
        if not points_here:
            raise InvalidPackage(
                f"dist-tag {tag!r} points at {target!r}, but this publish is version {version}"
            )
        requested[tag] = version
    return requested


def _stored_manifest(manifest: dict, version: str, shasum: str, integrity: str) -> dict:
    stored = {
        key: value
        for key, value in manifest.items()
        if key not in _REGISTRY_FIELDS and (not key.startswith("_") or key in _KEPT_UNDERSCORE_FIELDS)
    }
    stored["version"] = version
    # the tarball URL is ours to make; fileCount, signatures and the like are for the registry to compute
    stored["dist"] = {"shasum": shasum, "integrity": integrity}
    return stored


def _readme(document: dict, manifest: dict) -> str | None:
    for source in (document, manifest):
        readme = source.get("readme")
        if isinstance(readme, str) and readme:
            return readme
    return None


# --- repository field ------------------------------------------------------------------------------

def repository_from_manifest(manifest: dict) -> tuple[str, str] | None:
    """package.json 'repository' -> (owner, repo) on whatever host, or None if it names no repository we can read.

    Takes a reference string or {'type': 'git', 'url': ...}; the spellings are `parse_repository_reference`'s.
    """
    repository = manifest.get("repository") if isinstance(manifest, dict) else None
    url = repository.get("url") if isinstance(repository, dict) else repository
    if not isinstance(url, str):
        return None
    return parse_repository_reference(url)


# --- packuments ------------------------------------------------------------------------------------

# what npm's abbreviated ("corgi") metadata keeps of a version: what an installer needs
_ABBREVIATED_FIELDS = (
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "_hasShrinkwrap",
    "hasInstallScript",
    "cpu",
    "os",
    "libc",
    "funding",
)
# copied to the top of the full packument from the latest version, as the npm registry does
_HOISTED_FIELDS = (
    "description",
    "author",
    "contributors",
    "maintainers",
    "homepage",
    "bugs",
    "repository",
    "keywords",
    "license",
    "readmeFilename",
)
_INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")


@dataclass(frozen=True)
class VersionRecord:
    """One stored version, as the packument builder needs it."""

    version: str
    manifest: dict  # PublishRequest.manifest as stored
    tarball_url: str
    shasum: str | None  # sha1 hex, when the tarball's sha1 is known (npm checks `integrity` first)
    integrity: str  # 'sha512-...' (or 'sha256-...')
    created: datetime
    deprecated: str | None  # the deprecation message, or None


def build_packument(
    name: str,
    versions: list[VersionRecord],
    dist_tags: dict[str, str],
    created: datetime,
    modified: datetime,
    *,
    abbreviated: bool,
    readme: str | None = None,
    maintainers: list[dict] | None = None,
) -> dict:
    """The package document `GET /<name>` answers: full, or abbreviated for application/vnd.npm.install-v1+json.

    Versions are listed in semver order. Tags naming a version not in `versions` are left out, since
    installers fail on them. Naive datetimes are taken as UTC.
    """
    ordered = sorted(versions, key=lambda record: _precedence(record.version))
    entries = {record.version: _version_entry(name, record, abbreviated=abbreviated) for record in ordered}
    tags = {tag: version for tag, version in dist_tags.items() if version in entries}
    if abbreviated:
        return {"name": name, "modified": iso_time(modified), "dist-tags": tags, "versions": entries}

    document: dict = {"_id": name, "name": name}
    latest = _latest(ordered, tags)
    if latest is not None:
        document.update({key: latest.manifest[key] for key in _HOISTED_FIELDS if key in latest.manifest})
    document["dist-tags"] = tags
    document["versions"] = entries
    document["time"] = {
        "created": iso_time(created),
        "modified": iso_time(modified),
        **{record.version: iso_time(record.created) for record in ordered},
    }
    if readme is not None:
        document["readme"] = readme
    if maintainers is not None:
        document["maintainers"] = maintainers
    return document


def _latest(ordered: list[VersionRecord], tags: dict[str, str]) -> VersionRecord | None:
    by_version = {record.version: record for record in ordered}
    if tags.get("latest") in by_version:
        return by_version[tags["latest"]]
    releases = [record for record in ordered if "-" not in record.version.partition("+")[0]]
    candidates = releases or ordered
    return candidates[-1] if candidates else None


def _version_entry(name: str, record: VersionRecord, *, abbreviated: bool) -> dict:
    manifest = record.manifest
    entry: dict = {"name": name, "version": record.version}
    if abbreviated:
        entry.update(
            (key, manifest[key]) for key in _ABBREVIATED_FIELDS if key in manifest and key not in entry
        )
    else:
        entry.update((key, value) for key, value in manifest.items() if key not in entry)
        entry["_id"] = f"{name}@{record.version}"
    scripts = manifest.get("scripts")
    if isinstance(scripts, dict) and any(script in scripts for script in _INSTALL_SCRIPTS):
        # npm skips running lifecycle scripts it is not told about in the abbreviated document
        entry["hasInstallScript"] = True
    entry["dist"] = {"shasum": record.shasum, "integrity": record.integrity, "tarball": record.tarball_url}
    if record.shasum is None:
        del entry["dist"]["shasum"]  # left out when unknown rather than a null for clients to compare
    if record.deprecated:
        entry["deprecated"] = record.deprecated
    else:
        entry.pop("deprecated", None)
    return entry


def iso_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and 'Z', as the npm registry writes times."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

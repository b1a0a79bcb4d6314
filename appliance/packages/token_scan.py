"""Finding this appliance's tokens (`apt_` and 40 URL-safe characters) in what is published: a NuGet.Config
or .npmrc packed by mistake would hand an all-scope token to everyone who can install the package.

Archives are read as streams, never whole in memory: gzip, tar (npm tarballs, a .gem and its members,
OCI layers) and zip (.nupkg, .jar, .war) are opened member by member, nested up to MAX_DEPTH, and every
member is searched. The work is bounded: past MAX_SCANNED_BYTES of content or MAX_MEMBERS members the
rest is not searched (the upload is not refused for it).
"""
from __future__ import annotations

import re
import struct
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from appliance.auth.tokens import TOKEN_PREFIX, hash_secret
from appliance.models.tokens import Token

# The pattern begins with the literal prefix, so `re` skips from one `apt_` to the next (500 MB/s over
# random bytes); begun with the look-behind for the character before it, it tried every position
# (14 MB/s, and so was every large push). `_find_token` checks that character instead.
TOKEN_PATTERN = re.compile(re.escape(TOKEN_PREFIX.encode()) + rb"[A-Za-z0-9_-]{40}(?![A-Za-z0-9_-])")
URL_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
TOKEN_LENGTH = len(TOKEN_PREFIX) + 40
MAX_DEPTH = 4
MAX_SCANNED_BYTES = 1024 * 1024 * 1024
MAX_MEMBERS = 100_000
CHUNK = 1024 * 1024
INPUT_PIECE = 64 * 1024  # compressed bytes given to zlib at a time (see _Inflated)

GZIP_MAGIC = b"\x1f\x8b"
ZIP_LOCAL = b"PK\x03\x04"


@dataclass(frozen=True)
class TokenFinding:
    path: str  # "NAME.nupkg: NuGet.Config", members of members joined with ": "
    token_id: int | None  # the token's id when it is one this appliance issued


class _Budget:
    def __init__(self) -> None:
        self.bytes = MAX_SCANNED_BYTES
        self.members = MAX_MEMBERS

    def spend(self, size: int) -> bool:
        self.bytes -= size
        return self.bytes >= 0


class _Exhausted(Exception):
    pass


class _Stream:
    """A read-only stream with look-ahead and push-back over any object with read(). What was pushed back
    is read by moving an offset: slicing off what was read copied the rest, a MiB per small read of a zip
    entry's header (a jar of 20,000 small entries took seconds)."""

    def __init__(self, source) -> None:
        self.source = source
        self.pending = b""
        self.offset = 0  # what of `pending` has been read

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data = self.pending[self.offset:] + self.source.read()
            self.pending, self.offset = b"", 0
            return data
        if self.offset >= len(self.pending):
            return self.source.read(size)
        data = self.pending[self.offset:self.offset + size]
        self.offset += len(data)
        return data

    def read_exact(self, size: int) -> bytes:
        parts, need = [], size
        while need:
            part = self.read(need)
            if not part:
                break
            parts.append(part)
            need -= len(part)
        return b"".join(parts)

    def peek(self, size: int) -> bytes:
        if len(self.pending) - self.offset >= size:
            return self.pending[self.offset:self.offset + size]
        data = self.read_exact(size)
        self.unread(data)
        return data

    def unread(self, data: bytes) -> None:
        self.pending = data + self.pending[self.offset:] if self.offset < len(self.pending) else data
        self.offset = 0


class _Inflated:
    """What a zlib stream read from `stream` inflates to, handed out in reads of any size. Compressed
    bytes go in INPUT_PIECE at a time and come out CHUNK at most per call, so what zlib copies on each
    call (the input it has not used yet) stays small: fed a MiB and asked for what tarfile reads (10 KiB),
    it copied the rest of the MiB on every call."""

    def __init__(self, stream: _Stream, wbits: int) -> None:
        self.stream = stream
        self.wbits = wbits
        self.inflater = zlib.decompressobj(wbits)
        self.out = b""
        self.offset = 0

    def read(self, size: int = CHUNK) -> bytes:
        size = size if size and size > 0 else CHUNK
        while self.offset >= len(self.out):
            data = self._inflate()
            if not data:
                return b""
            self.out, self.offset = data, 0
        piece = self.out[self.offset:self.offset + size]
        self.offset += len(piece)
        return piece

    def _more(self) -> bytes:
        return self.inflater.unconsumed_tail or self.stream.read(INPUT_PIECE)


class _Gunzip(_Inflated):
    """Decompresses a gzip stream (several members too) as it is read."""

    def __init__(self, stream: _Stream) -> None:
        super().__init__(stream, zlib.MAX_WBITS | 16)

    def _inflate(self) -> bytes:
        while True:
            if self.inflater.eof:
                self.stream.unread(self.inflater.unused_data)
                if self.stream.peek(2) != GZIP_MAGIC:
                    return b""
                self.inflater = zlib.decompressobj(self.wbits)
            raw = self._more()
            if not raw:
                return b""
            data = self.inflater.decompress(raw, CHUNK)
            if data:
                return data


def find_token(stream: BinaryIO, name: str) -> TokenFinding | None:
    """The first token of this appliance in `stream` (the file `name` as published), or None."""
    budget = _Budget()
    try:
        found = _scan(_Stream(stream), name, 0, budget)
    except _Exhausted:
        return None
    if found is None:
        return None
    path, secret = found
    token = Token.get_or_none(Token.token_hash == hash_secret(secret.decode()))
    return TokenFinding(path, token.id if token is not None else None)


def _scan(stream: _Stream, path: str, depth: int, budget: _Budget) -> tuple[str, bytes] | None:
    head = stream.peek(512)
    if depth < MAX_DEPTH:
        try:
            if head[:2] == GZIP_MAGIC:
                return _scan(_Stream(_Gunzip(stream)), path, depth + 1, budget)
            if head[:4] == ZIP_LOCAL:
                return _scan_zip(stream, path, depth, budget)
            if len(head) >= 262 and head[257:262] == b"ustar":
                return _scan_tar(stream, path, depth, budget)
        except (zlib.error, tarfile.TarError, EOFError, struct.error):
            pass  # not the archive it looked like: whatever was read is not searched again
    return _scan_bytes(stream, path, budget)


def _find_token(window: bytes) -> re.Match | None:
    """The first token in `window` that no URL-safe character runs into from the left."""
    for match in TOKEN_PATTERN.finditer(window):
        if match.start() == 0 or window[match.start() - 1] not in URL_SAFE:
            return match
    return None


def _scan_bytes(stream, path: str, budget: _Budget) -> tuple[str, bytes] | None:
    tail = b""
    while chunk := stream.read(CHUNK):
        if not budget.spend(len(chunk)):
            raise _Exhausted
        window = tail + chunk
        match = _find_token(window)
        if match is not None and match.end() < len(window):
            return path, match.group()
        tail = window[-(TOKEN_LENGTH + 1):]
    match = _find_token(tail)
    return (path, match.group()) if match else None


def _member(budget: _Budget) -> None:
    budget.members -= 1
    if budget.members < 0:
        raise _Exhausted


def _scan_tar(stream: _Stream, path: str, depth: int, budget: _Budget) -> tuple[str, bytes] | None:
    """Reads a tar header by header. tarfile spent 30 us on each header (100,000 members of a 1 MB
    .tar.gz took 3 s); this reads what the search needs: each member's name, size and kind."""
    long_name: str | None = None
    while True:
        header = stream.read_exact(512)
        if len(header) < 512 or header == _ZERO_BLOCK:
            return None  # the end: two zero blocks, or a tar cut short
        _member(budget)
        kind, size = header[156:157], _tar_size(header[124:136])
        padded = (size + 511) & ~511
        if kind in (b"L", b"x"):  # the next member's long name (GNU) or extended header (pax)
            data = stream.read_exact(padded)[:size]
            long_name = _long_name(kind, data) or long_name
            continue
        name, long_name = long_name or _tar_name(header), None
        if kind in (b"0", b"\0", b"7"):  # a regular file
            entry = _Limited(stream, size)
            found = _scan(_Stream(entry), f"{path}: {name}", depth + 1, budget)
            if found:
                return found
            while entry.read(CHUNK):
                pass
            stream.read_exact(padded - size)
        else:
            _skip(stream, padded)


_ZERO_BLOCK = bytes(512)
_PAX_PATH = re.compile(rb"\d+ path=([^\n]*)\n")


def _tar_size(field: bytes) -> int:
    if field[0] & 0x80:  # base-256, for sizes past 8 GiB
        return int.from_bytes(field[1:], "big")
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        raise tarfile.TarError("a tar header's size is not a number") from None


def _tar_name(header: bytes) -> str:
    name = header[:100].split(b"\0", 1)[0]
    prefix = header[345:500].split(b"\0", 1)[0] if header[257:262] == b"ustar" else b""
    return (prefix + b"/" + name if prefix else name).decode("utf-8", "replace")


def _long_name(kind: bytes, data: bytes) -> str | None:
    if kind == b"L":
        return data.split(b"\0", 1)[0].decode("utf-8", "replace")
    match = _PAX_PATH.search(data)
    return match.group(1).decode("utf-8", "replace") if match else None


def _skip(stream: _Stream, size: int) -> None:
    while size > 0:
        skipped = len(stream.read(min(size, CHUNK)))
        if not skipped:
            raise EOFError("the tar ends inside a member")
        size -= skipped


class _Limited:
    def __init__(self, stream: _Stream, size: int) -> None:
        self.stream = stream
        self.left = size

    def read(self, size: int = CHUNK) -> bytes:
        if self.left <= 0:
            return b""
        data = self.stream.read(min(size if size > 0 else CHUNK, self.left))
        self.left -= len(data)
        return data


class _Inflate(_Inflated):
    """A deflated zip entry: raw deflate, which ends by itself; what follows goes back to the stream."""

    def __init__(self, stream: _Stream) -> None:
        super().__init__(stream, -zlib.MAX_WBITS)

    def _inflate(self) -> bytes:
        while not self.inflater.eof:
            raw = self._more()
            if not raw:
                raise EOFError("the zip entry ends early")
            data = self.inflater.decompress(raw, CHUNK)
            if self.inflater.eof:
                self.stream.unread(self.inflater.unused_data)
            if data:
                return data
        return b""

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _scan_zip(stream: _Stream, path: str, depth: int, budget: _Budget) -> tuple[str, bytes] | None:
    """Reads a zip by its local headers, front to back (the central directory at the end is not needed)."""
    while stream.peek(4) == ZIP_LOCAL:
        _member(budget)
        (_, _, flags, method, _, _, _, compressed, size, name_length, extra_length) = struct.unpack(
            "<4sHHHHHIIIHH", stream.read_exact(30))
        name = stream.read_exact(name_length).decode("utf-8", "replace")
        extra = stream.read_exact(extra_length)
        zip64 = compressed == 0xFFFFFFFF
        if zip64:
            compressed = _zip64_compressed_size(extra, size)
        member_path = f"{path}: {name}"
        if method == 8:
            entry = _Inflate(stream)
            found = _scan(_Stream(entry), member_path, depth + 1, budget)
            if found:
                return found
            entry.drain()
        elif not flags & 8 or compressed:
            entry = _Limited(stream, compressed)
            found = _scan(_Stream(entry), member_path, depth + 1, budget) if method == 0 else None
            if found:
                return found
            while entry.read(CHUNK):
                pass
        else:
            return None  # a stored entry of unknown length: nothing after it can be found
        if flags & 8:
            descriptor = stream.peek(4)
            if descriptor == b"PK\x07\x08":
                stream.read_exact(4)
            stream.read_exact(20 if zip64 else 12)
    return None


def _zip64_compressed_size(extra: bytes, size: int) -> int:
    offset = 0
    while offset + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, offset)
        if tag == 1:
            fields = extra[offset + 4:offset + 4 + length]
            # The uncompressed size comes first when it too is in the extra field.
            return struct.unpack_from("<Q", fields, 8 if size == 0xFFFFFFFF else 0)[0]
        offset += 4 + length
    raise struct.error("a zip64 entry without its sizes")

"""Checking a blob store against what the database says it holds, and copying one store into another
(`appliance storage verify`, `appliance storage migrate`).

Both take the blobs as (sha256, size) pairs, the rows of the database, so that the store below knows
nothing of packages. A copy is resumable: a blob the target already holds at its size is left alone
(a store's writes appear whole or not at all), and every blob is checked by reading it back from the
target at the end, so a copy that says it is done holds every byte it should.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from appliance.storage.base import PathNotFound
from appliance.storage.blobs import CHUNK_SIZE, BlobStore, blob_path, iter_chunks

# Blobs copied or checked at once: S3 answers each request in tens of milliseconds, and most blobs
# are small, so one at a time would spend the run waiting.
PARALLEL = 8


@dataclass(frozen=True)
class BlobProblem:
    sha256: str
    size: int  # what the database says
    problem: str

    def __str__(self) -> str:
        return f"sha256:{self.sha256} ({self.size} bytes): {self.problem}"


def check_blob(store: BlobStore, sha256: str, size: int, *, read: bool = True) -> BlobProblem | None:
    """What is wrong with the blob `sha256` in `store`, or None: missing, of another size, or (with
    `read`) holding bytes whose sha256 is not its name."""
    held = store.storage.stat(blob_path(sha256))
    if held is None:
        return BlobProblem(sha256, size, "missing from the store")
    if held != size:
        return BlobProblem(sha256, size, f"the store holds {held} bytes")
    if not read:
        return None
    hasher = hashlib.sha256()
    try:
        with store.open(sha256) as stream:
            for chunk in iter_chunks(stream):
                hasher.update(chunk)
    except PathNotFound:
        return BlobProblem(sha256, size, "missing from the store")
    if hasher.hexdigest() != sha256:
        return BlobProblem(sha256, size, f"the stored bytes have the sha256 {hasher.hexdigest()}")
    return None


def verify_blobs(store: BlobStore, blobs: Iterable[tuple[str, int]], *, read: bool = True) -> Iterator[BlobProblem]:
    """Every problem of `blobs` in `store` (see check_blob), several blobs checked at a time."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        for problem in pool.map(lambda blob: check_blob(store, *blob, read=read), blobs):
            if problem is not None:
                yield problem


@dataclass
class CopyReport:
    copied: int = 0
    copied_bytes: int = 0
    already_there: int = 0
    problems: list[BlobProblem] = field(default_factory=list)

    def summary(self) -> str:
        return (f"copied {self.copied} blobs ({self.copied_bytes} bytes), {self.already_there} were there "
                f"already, {len(self.problems)} problems")


def _copy_one(source: BlobStore, target: BlobStore, sha256: str, size: int) -> tuple[str, BlobProblem | None]:
    if target.storage.stat(blob_path(sha256)) == size:
        return "there", None
    problem = check_blob(source, sha256, size, read=False)
    if problem is not None:
        return "problem", BlobProblem(sha256, size, f"cannot be copied: in the source, {problem.problem}")
    # Written under its final name: the store shows a write only once it is committed, whole, and it is
    # committed only when the bytes that passed have the sha256 the blob is named by.
    writer = target.storage.writer(blob_path(sha256))
    hasher = hashlib.sha256()
    try:
        with source.open(sha256) as stream:
            for chunk in iter_chunks(stream, CHUNK_SIZE):
                writer.write(chunk)
                hasher.update(chunk)
        if hasher.hexdigest() != sha256 or writer.size != size:
            writer.cancel()
            return "problem", BlobProblem(sha256, size, "cannot be copied: in the source, the stored bytes have "
                                                        f"the sha256 {hasher.hexdigest()}")
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    return "copied", None


def copy_blobs(source: BlobStore, target: BlobStore, blobs: Iterable[tuple[str, int]],
               progress: Callable[[CopyReport], None] | None = None) -> CopyReport:
    """Copy `blobs` from `source` to `target`, each verified as it streams; blobs the target holds
    already are skipped, so a copy that was stopped goes on where it was. Damaged or missing sources
    are reported, not copied."""
    report = CopyReport()
    with ThreadPoolExecutor(PARALLEL) as pool:
        pending = [(blob, pool.submit(_copy_one, source, target, *blob)) for blob in blobs]
        for (_, size), future in pending:
            outcome, problem = future.result()
            if outcome == "copied":
                report.copied += 1
                report.copied_bytes += size
            elif outcome == "there":
                report.already_there += 1
            else:
                report.problems.append(problem)
            if progress is not None:
                progress(report)
    return report

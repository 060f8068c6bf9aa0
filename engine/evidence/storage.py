"""Where evidence files live: one small interface, so an S3-compatible store can be added beside the local one.

A store keeps files by their SHA-256 (content-addressed: the same bytes are kept once). ``stage`` takes a
stream of chunks, hashes it while writing it to a temporary file (never the whole file in memory) and lets the
caller judge the complete file; the caller then keeps it (moved into place) or drops it. An upload refused
after its bytes arrived (a reused idempotency key, say) is dropped, and a cut-off one leaves nothing either.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Protocol

CHUNK = 64 * 1024
SHA256 = re.compile(r"[0-9a-f]{64}")


class TooLarge(Exception):
    """The stream passed the size limit; nothing was kept."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"evidence files are limited to {max_bytes} bytes")
        self.max_bytes = max_bytes


@dataclass(frozen=True)
class Stored:
    """A file as kept: its SHA-256 (lower-case hex), size in bytes and the media type its checker found."""

    sha256: str
    size: int
    media_type: str


class Staged(Protocol):
    """A file received and judged but not kept yet: ``keep`` moves it into place, ``drop`` forgets it."""

    stored: Stored

    def keep(self) -> None:
        """Keep the file under its SHA-256 (on disk before this returns)."""

    def drop(self) -> None:
        """Forget the file unless it was kept (safe to call after keep, and twice)."""


class EvidenceStore(Protocol):
    """Content-addressed file storage."""

    def stage(self, chunks: Iterable[bytes], *, max_bytes: int, check: Callable[[Path], str]) -> Staged:
        """Receive the streamed file if it is at most ``max_bytes`` and ``check`` (given the complete file, which
        it may read, and raising to refuse it) returns its media type; raise TooLarge or check's refusal else."""

    def open(self, sha256: str) -> BinaryIO:
        """The kept file for reading (FileNotFoundError when it is not kept)."""

    def exists(self, sha256: str) -> bool:
        """Whether a file with this SHA-256 is kept."""


@dataclass
class LocalStaged:
    """A received file in the store's temporary folder, and where keeping it puts it."""

    stored: Stored
    temp: Path
    final: Path

    def keep(self) -> None:
        """See Staged.keep."""
        self.final.parent.mkdir(parents=True, exist_ok=True)
        # The same bytes may already be kept (another item, another name): replacing them is harmless,
        # and an earlier copy changed on disk is thereby repaired by an honest re-upload.
        os.replace(self.temp, self.final)

    def drop(self) -> None:
        """See Staged.drop."""
        self.temp.unlink(missing_ok=True)


class LocalFileStore:
    """Files in a folder, as ``ab/cd/abcd...`` (two levels of fan-out keep each folder small)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        """Where the file with this SHA-256 is (or would be) kept."""
        if not SHA256.fullmatch(sha256):
            raise ValueError("a SHA-256 is 64 lower-case hex digits")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def stage(self, chunks: Iterable[bytes], *, max_bytes: int, check: Callable[[Path], str]) -> LocalStaged:
        """See EvidenceStore.stage: a temporary file in the same folder tree, renamed into place by ``keep``."""
        staging = self.root / "tmp"
        staging.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=staging, prefix="upload-")
        temp = Path(name)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())  # on disk before the database records it
            media_type = check(temp)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        sha = digest.hexdigest()
        return LocalStaged(Stored(sha, size, media_type), temp, self.path_of(sha))

    def open(self, sha256: str) -> BinaryIO:
        """See EvidenceStore.open."""
        return open(self.path_of(sha256), "rb")

    def exists(self, sha256: str) -> bool:
        """See EvidenceStore.exists."""
        return self.path_of(sha256).is_file()


def open_intact(store: EvidenceStore, sha256: str, size: int) -> BinaryIO | None:
    """The stored file, read once through to check it still is what was recorded (its size and SHA-256) and
    rewound; None when it is not (changed on disk). FileNotFoundError when it is gone."""
    stream = store.open(sha256)
    digest, length = hashlib.sha256(), 0
    try:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            length += len(chunk)
        if length == size and digest.hexdigest() == sha256:
            stream.seek(0)
            return stream
    except BaseException:
        stream.close()
        raise
    stream.close()
    return None


def store_for(settings) -> EvidenceStore:
    """The deployment's evidence store (today always the local folder of ``settings.evidence_path``)."""
    return LocalFileStore(settings.evidence_path)


def file_sha256(store: EvidenceStore, sha256: str) -> str:
    """The SHA-256 of what the store now holds under ``sha256``, read in chunks."""
    digest = hashlib.sha256()
    with store.open(sha256) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

"""Checkpoint signing keys: an Ed25519 pair made on first use, kept in files (private half mode 0600), rotatable.

The key id is the first 16 hex digits of SHA-256 over the 32 raw public key bytes, so anyone holding a
public key can compute its id. Rotation makes a new pair and points ``current`` at it; the old pairs stay
(their public halves are also in the ``audit_keys`` table), so every checkpoint ever signed still verifies.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.audit.models import AuditKey
from engine.clock import rfc3339
from engine.errors import IntegrityViolation

_keys = AuditKey.__table__
CURRENT = "current"


def key_id_of(public_raw: bytes) -> str:
    """The id of a public key: the first 16 hex digits of SHA-256 over its 32 raw bytes."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key (of a private key's public half)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SigningKey:
    """One key pair: its id, its private half and its public half as hex."""

    key_id: str
    private: Ed25519PrivateKey

    @property
    def public_hex(self) -> str:
        """The public key as 64 hex digits."""
        return public_raw(self.private).hex()

    def sign(self, data: bytes) -> str:
        """The Ed25519 signature of ``data`` as 128 hex digits."""
        return self.private.sign(data).hex()


class KeyRing:
    """The folder of key files: ``ed25519-<key id>.pem`` (PKCS#8) per pair and ``current`` naming the signer."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, key_id: str) -> Path:
        return self.folder / f"ed25519-{key_id}.pem"

    def _load(self, key_id: str) -> SigningKey:
        path = self._path(key_id)
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # damaged, encrypted, or not a private key
            raise IntegrityViolation(f"the signing key file {path} cannot be read as a key ({exc}); restore it "
                                     "from a backup, or make a new key with `closeloop audit rotate-key`") from None
        if not isinstance(private, Ed25519PrivateKey) or key_id_of(public_raw(private)) != key_id:
            raise IntegrityViolation(f"key file {path} does not hold the Ed25519 key {key_id}")
        return SigningKey(key_id, private)

    def _new(self) -> SigningKey:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        key = SigningKey(key_id_of(public_raw(private)), private)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        # Created with mode 0600 from the start (O_EXCL): never a moment where another user could read it.
        fd = os.open(self._path(key.key_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        pointer = self.folder / f".{CURRENT}.tmp"
        pointer.write_text(key.key_id + "\n", encoding="ascii")
        os.replace(pointer, self.folder / CURRENT)  # atomic: a reader sees the old key or the new one
        return key

    def current(self) -> SigningKey:
        """The key that signs new checkpoints, made on first use."""
        pointer = self.folder / CURRENT
        if not pointer.exists():
            return self._new()
        return self._load(pointer.read_text(encoding="ascii").strip())

    def rotate(self) -> SigningKey:
        """A new key becomes the signer; the old ones stay, so what they signed still verifies."""
        return self._new()


def register(conn: sa.Connection, key: SigningKey, now: dt.datetime) -> None:
    """Record the key's public half in the database (once), where the API and bundles read it."""
    exists = conn.execute(sa.select(_keys.c.key_id).where(_keys.c.key_id == key.key_id)).first()
    if exists is None:
        conn.execute(_keys.insert().values(key_id=key.key_id, algorithm="ed25519", public_key=key.public_hex,
                                           created_at=now))


def list_keys(conn: sa.Connection) -> list[dict]:
    """Every public key that ever signed, oldest first."""
    rows = conn.execute(sa.select(_keys).order_by(_keys.c.created_at, _keys.c.key_id)).mappings()
    return [{"key_id": r["key_id"], "algorithm": r["algorithm"], "public_key": r["public_key"],
             "created_at": rfc3339(r["created_at"])} for r in rows]

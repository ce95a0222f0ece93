"""The Ed25519 key that signs audit checkpoints.

Production sets ``HEADWATER_AUDIT_SIGNING_KEY`` (base64 of the 32-byte private seed, as
``headwater audit keygen`` prints it), the same in every server process. Embedded mode without
that setting keeps a generated key in ``<home>/audit-signing.key`` (mode 0600), so that a demo
works with no set-up; the log says so once, because a key on the same disk as the log proves
less to an outside auditor than one held elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from headwater.errors import ConfigError

log = logging.getLogger("headwater.audit")
KEY_FILE = "audit-signing.key"
SETTING = "HEADWATER_AUDIT_SIGNING_KEY"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def public_key_text(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def key_id(public_key: str) -> str:
    """A short name for a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_key(self) -> str:
        return public_key_text(self.private.public_key())

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> str:
        return _b64(self.private.sign(message))


def generate_seed() -> str:
    """A new private key, as the base64 text ``HEADWATER_AUDIT_SIGNING_KEY`` takes."""
    return _b64(os.urandom(32))


def parse_seed(text: str, where: str = SETTING) -> SigningKey:
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(where, "must be base64 (see `headwater audit keygen`)") from None
    if len(seed) != 32:
        raise ConfigError(where, f"must decode to 32 bytes, not {len(seed)}")
    return SigningKey(Ed25519PrivateKey.from_private_bytes(seed))


def load_signing_key(configured: str | None, home: Path) -> SigningKey:
    """The configured key, else the embedded key file (created on first use)."""
    if configured:
        return parse_seed(configured)
    path = home / KEY_FILE
    if path.is_file():
        return parse_seed(path.read_text(), str(path))
    home.mkdir(parents=True, exist_ok=True)
    seed = generate_seed()
    # Written aside, then linked into place: link fails if another process got there first,
    # and nobody ever reads a half-written key.
    spare = path.with_name(f"{KEY_FILE}.{os.getpid()}")
    fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(seed + "\n")
    try:
        os.link(spare, path)
    except FileExistsError:
        return parse_seed(path.read_text(), str(path))
    finally:
        spare.unlink()
    log.warning("generated an audit signing key at %s; in production set %s instead", path, SETTING)
    return parse_seed(seed, str(path))


def verify_signature(public_key: str, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is ``public_key``'s (base64) signature of ``message``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True

"""Secrets handling: password hashing, device tokens, signed staff tokens, key encryption.

Passwords use Argon2id (argon2-cffi). Device tokens are random and stored only as
SHA-256 digests. Staff bearer tokens and magic links are signed with itsdangerous.
Facilities' Ed25519 private keys are stored Fernet-encrypted under a key derived from the
deployment secret, so a database dump alone cannot forge tickets.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, URLSafeTimedSerializer

_password_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe secret (device tokens, access keys, enrolment codes)."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """What is stored instead of a device token or enrolment code."""
    return hashlib.sha256(token.encode()).hexdigest()


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )


def purpose_cipher(secret_key: str, purpose: bytes) -> Fernet:
    """A Fernet key of its own per ``purpose``, derived from the deployment secret."""
    return Fernet(base64.urlsafe_b64encode(_derive(secret_key, purpose)))


def key_cipher(secret_key: str) -> Fernet:
    return purpose_cipher(secret_key, b"kippu facility keys")


class Signer:
    """Signed, expiring tokens for staff sessions and magic links (itsdangerous)."""

    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret, salt=f"kippu:{purpose}")

    def dumps(self, purpose: str, data: Any) -> str:
        return self._serializer(purpose).dumps(data)

    def loads(self, purpose: str, token: str, max_age_seconds: int) -> Any | None:
        """The signed data, or None if the token is forged, altered or expired."""
        try:
            return self._serializer(purpose).loads(token, max_age=max_age_seconds)
        except BadSignature:
            return None

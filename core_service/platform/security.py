"""Secrets handling: password hashing, device tokens, signed staff tokens, key encryption.

Passwords use Argon2id (argon2-cffi), hashed and verified in worker threads (about 145 ms
of CPU each, which would stall every gate scan on the event loop); argon2-cffi releases
the GIL while it works. Device tokens are random and stored only as
SHA-256 digests. Staff bearer tokens and magic links are signed with itsdangerous.
Facilities' Ed25519 private keys are stored Fernet-encrypted under a key derived from the
deployment secret, so a database dump alone cannot forge tickets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import weakref
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
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


#: Password checks running at once per process: more would only queue for the same
#: cores and take them from the requests the event loop serves meanwhile.
ARGON2_THREADS = max(1, (os.cpu_count() or 2) // 2)
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _argon2_limiter() -> CapacityLimiter:
    # One per event loop: a limiter belongs to the loop it was first used on.
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = CapacityLimiter(ARGON2_THREADS)
    return limiter


async def hash_password_in_thread(password: str) -> str:
    """:func:`hash_password` off the event loop."""
    return await anyio.to_thread.run_sync(hash_password, password, limiter=_argon2_limiter())


async def verify_password_in_thread(password_hash: str, password: str) -> bool:
    """:func:`verify_password` off the event loop."""
    return await anyio.to_thread.run_sync(
        verify_password, password_hash, password, limiter=_argon2_limiter()
    )


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


def purpose_secret(secret_key: str, purpose: bytes) -> str:
    """A secret string of its own per ``purpose`` (for libraries that take a string)."""
    return _derive(secret_key, purpose).hex()


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

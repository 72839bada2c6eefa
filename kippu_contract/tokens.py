"""Compact QR tokens signed with the facility's Ed25519 key.

A token is ``K1.`` followed by URL-safe base64 (unpadded) of a 18-byte claim and its
64-byte Ed25519 signature. A gate holding only the facility's public key can verify a
token offline; the server stays the authority on "already used" and revocations.

Claim layout (big-endian): kind (1 byte: 1 ticket, 2 order group), facility id
(4 bytes), subject id (8 bytes: ticket or order id), secret version (4 bytes), and one
reserved byte. Bumping a ticket's secret version (when it is handed on) makes every
older token for it invalid.

Decoding is strict: only the URL-safe alphabet, no padding, no whitespace, and the last
character's unused bits zero, so each signed claim has exactly ONE text. The signature
covers the decoded bytes, not the text; a forgiving decoder would let many spellings of
one ticket verify, and a scanner that remembers the codes it has seen would admit each.
"""

from __future__ import annotations

import base64
import functools
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PREFIX = "K1."
KIND_TICKET = 1
KIND_ORDER_GROUP = 2
_CLAIM = struct.Struct(">BIQIB")
_SIGNATURE_LEN = 64


class InvalidToken(ValueError):
    """The token is malformed, altered, or signed with another key."""


@dataclass(frozen=True, slots=True)
class TokenClaim:
    kind: int
    facility_id: int
    subject_id: int
    secret_version: int


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64decode(text: str) -> bytes:
    """The bytes of ``text`` if it is their canonical unpadded base64url spelling: the
    encoding of the result is compared with the text, which refuses set spare bits in
    the last character, padding, ``+``/``/`` and characters outside the alphabet."""
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise InvalidToken("malformed ticket code")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(raw) != text:
        raise InvalidToken("malformed ticket code")
    return raw


def generate_signing_key() -> tuple[bytes, str]:
    """A new Ed25519 key: (raw private bytes, public key as URL-safe base64)."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes_raw()
    return raw, public_key_text(private.public_key())


def public_key_text(public: Ed25519PublicKey) -> str:
    return _b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def sign_token(private_key_raw: bytes, claim: TokenClaim) -> str:
    packed = _CLAIM.pack(claim.kind, claim.facility_id, claim.subject_id, claim.secret_version, 0)
    signature = _private_key(private_key_raw).sign(packed)
    return PREFIX + _b64encode(packed + signature)


@functools.lru_cache(maxsize=256)
def _private_key(private_key_raw: bytes) -> Ed25519PrivateKey:
    # Every issued ticket is signed; loading the key took a third of the signing time.
    return Ed25519PrivateKey.from_private_bytes(private_key_raw)


def _decode(token: str) -> tuple[TokenClaim, bytes, bytes]:
    """The claim, the signed bytes and the signature of a strictly decoded token."""
    if not token.startswith(PREFIX):
        raise InvalidToken("not a kippu ticket code")
    raw = _b64decode(token[len(PREFIX) :])
    if len(raw) != _CLAIM.size + _SIGNATURE_LEN:
        raise InvalidToken("malformed ticket code")
    packed = raw[: _CLAIM.size]
    kind, facility_id, subject_id, version, _reserved = _CLAIM.unpack(packed)
    return TokenClaim(kind, facility_id, subject_id, version), packed, raw[_CLAIM.size :]


def read_claim(token: str) -> TokenClaim:
    """Parse a token's claim WITHOUT verifying it (to pick the facility's key)."""
    return _decode(token)[0]


def verify_token(token: str, public_key_text_b64: str) -> TokenClaim:
    """The claim of a token signed by the holder of ``public_key_text_b64``.

    Raises :class:`InvalidToken` for anything else, including any spelling of a valid
    token but the canonical one. Needs nothing but the public key, so gates and
    third-party scanners can run it offline.
    """
    claim, packed, signature = _decode(token)
    public = Ed25519PublicKey.from_public_bytes(_b64decode(public_key_text_b64))
    try:
        public.verify(signature, packed)
    except InvalidSignature as exc:
        raise InvalidToken("signature does not match") from exc
    return claim

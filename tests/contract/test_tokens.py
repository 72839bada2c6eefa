"""K1 ticket codes decode strictly: one canonical string per signed claim.

The signature covers the decoded bytes only, so a lenient decoder would let many
different strings verify as the same ticket; an offline scanner that remembers the
strings it has seen would then admit a ticket twice. Every variant below must be refused
by ``read_claim`` and ``verify_token`` alike, while the canonical string still verifies.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kippu_contract.tokens import (
    PREFIX,
    InvalidToken,
    TokenClaim,
    generate_signing_key,
    read_claim,
    sign_token,
    verify_token,
)

PRIVATE_KEY, PUBLIC_KEY = generate_signing_key()
CLAIM = TokenClaim(kind=1, facility_id=7, subject_id=123456, secret_version=2)
TOKEN = sign_token(PRIVATE_KEY, CLAIM)
BODY = TOKEN[len(PREFIX) :]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _last_character_bits_flipped(body: str) -> str:
    """The same bytes: the last character's unused low bits set (82 bytes leave 4)."""
    index = ALPHABET.index(body[-1])
    assert index & 0b1111 == 0, "the canonical encoding leaves the unused bits zero"
    return body[:-1] + ALPHABET[index | 0b0001]


def _standard_alphabet(body: str) -> str:
    return body.replace("-", "+").replace("_", "/")


def _body_with_dash_or_underscore() -> str:
    """A claim whose encoding holds ``-`` or ``_``, so the standard-alphabet variant
    differs from the canonical string."""
    for subject in range(1, 10_000):
        body = sign_token(PRIVATE_KEY, TokenClaim(1, 7, subject, 2))[len(PREFIX) :]
        if "-" in body or "_" in body:
            return body
    raise AssertionError("no encoding with - or _ found")


def _junk_inside(junk: str) -> Callable[[str], str]:
    """Characters outside the alphabet inside the body, with the padding that makes a
    forgiving decoder skip them and read the same bytes."""
    return lambda body: body[:40] + junk * 2 + body[40:] + "=="


#: Each one is the canonical token's bytes to a forgiving decoder (or to one that strips).
VARIANTS: dict[str, Callable[[str], str]] = {
    "last character's spare bits set": _last_character_bits_flipped,
    "standard alphabet + and /": _standard_alphabet,
    "padding": lambda body: body + "==",
    "junk characters inside": _junk_inside("!"),
    "dots inside": _junk_inside("."),
    "spaces inside": _junk_inside(" "),
    "newlines inside": _junk_inside("\n"),
    "junk after the padding": lambda body: body + "==!!",
    "trailing newline": lambda body: body + "\n",
    "leading space": lambda body: " " + body,
}


def test_the_canonical_token_verifies() -> None:
    assert verify_token(TOKEN, PUBLIC_KEY) == CLAIM
    assert read_claim(TOKEN) == CLAIM


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_non_canonical_spelling_of_a_valid_token_is_refused(variant: str) -> None:
    body = _body_with_dash_or_underscore() if "alphabet" in variant else BODY
    altered = VARIANTS[variant](body)
    assert altered != body
    token = PREFIX + altered
    with pytest.raises(InvalidToken):
        read_claim(token)
    with pytest.raises(InvalidToken):
        verify_token(token, PUBLIC_KEY)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_is_the_same_ticket_to_a_forgiving_decoder(variant: str) -> None:
    """Why the strictness matters: Python's base64 decoder (with the old padding and
    stripping) reads each variant as the very bytes the signature covers."""
    import base64

    def forgiving(text: str) -> bytes:
        text = text.strip()
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    body = _body_with_dash_or_underscore() if "alphabet" in variant else BODY
    assert forgiving(VARIANTS[variant](body)) == forgiving(body)


def test_a_public_key_in_a_non_canonical_spelling_is_refused() -> None:
    with pytest.raises(InvalidToken):
        verify_token(TOKEN, PUBLIC_KEY + "=")

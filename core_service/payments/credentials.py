"""Per-facility payment provider credentials: stored encrypted, shown only masked.

Each facility signs its own contract with a payment company, so credentials are facility
settings: ``Facility.settings["payment_credentials"][provider_name]`` holds a record
``{"ciphertext": ..., "masked": {...}, "updated_at": ...}``. The ciphertext is Fernet
under a key derived (HKDF-SHA256) from the deployment's ``secret_key`` with its own
purpose string, so it differs from the key that protects the ticket-signing keys and a
database dump alone reveals no API secret. ``masked`` is what screens and exports may
show ("sk_live_…9f3a"); the full values are never returned by any view.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Facility
from core_service.platform.errors import InvalidInput, NotFound

SETTINGS_KEY = "payment_credentials"
_PURPOSE = b"kippu payment provider credentials"
#: Fields that identify rather than authenticate: shown in full.
PUBLIC_FIELDS = frozenset(
    {
        "api_base",
        "merchant_id",
        "publishable_key",
        "public_key",
        "konbini_expires_after_days",
        "api_version",
    }
)


def credentials_cipher(secret_key: str) -> Fernet:
    """The Fernet key for payment credentials, derived from the deployment secret."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


def mask(value: str) -> str:
    """Keep a recognisable prefix (``sk_live_``) and the last four characters."""
    if len(value) <= 8:
        return "…"
    prefix = value[: value.rfind("_") + 1] if "_" in value[:12] else ""
    return f"{prefix}…{value[-4:]}"


def masked_view(values: dict[str, str]) -> dict[str, str]:
    return {k: (v if k in PUBLIC_FIELDS else mask(str(v))) for k, v in values.items()}


def seal(secret_key: str, values: dict[str, str]) -> dict[str, Any]:
    """The stored record of ``values``: ciphertext plus the masked view."""
    if not all(isinstance(v, str) for v in values.values()):
        raise InvalidInput("Credentials must be text.", "認証情報は文字列で入力してください。")
    token = credentials_cipher(secret_key).encrypt(json.dumps(values, sort_keys=True).encode())
    return {
        "ciphertext": token.decode(),
        "masked": masked_view(values),
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def unseal(secret_key: str, record: dict[str, Any]) -> dict[str, str]:
    """The plain credentials of a stored record.

    A record without ``ciphertext`` is a plain dict written before encryption existed
    (or by the demo) and is returned as it is, so older facilities keep working.
    """
    if "ciphertext" not in record:
        return dict(record)
    try:
        plain = credentials_cipher(secret_key).decrypt(record["ciphertext"].encode())
    except InvalidToken as exc:
        # Wrong KIPPU_SECRET_KEY (or a tampered row): say so instead of failing later.
        raise RuntimeError("payment credentials cannot be decrypted with this secret key") from exc
    values: dict[str, str] = json.loads(plain)
    return values


def load_credentials(facility: Facility, provider: str, secret_key: str) -> dict[str, str]:
    """Decrypted credentials of ``provider`` for ``facility``; {} when none are set."""
    record = (facility.settings or {}).get(SETTINGS_KEY, {}).get(provider)
    return unseal(secret_key, record) if record else {}


def masked_credentials(facility: Facility) -> dict[str, dict[str, str]]:
    """What a manager may see: every provider's masked credentials."""
    stored = (facility.settings or {}).get(SETTINGS_KEY, {})
    return {
        name: dict(record.get("masked", {}))
        if "ciphertext" in record
        else masked_view({k: str(v) for k, v in record.items()})
        for name, record in stored.items()
    }


async def store_credentials(
    session: AsyncSession,
    facility_id: int,
    provider: str,
    values: dict[str, str],
    secret_key: str,
) -> dict[str, str]:
    """Encrypt and save ``values`` for ``provider`` (replacing older ones); returns the
    masked view. The caller commits."""
    facility = await session.scalar(sa.select(Facility).where(Facility.id == facility_id))
    if facility is None:
        raise NotFound("No such facility.", "施設が見つかりません。")
    settings = dict(facility.settings or {})
    stored = dict(settings.get(SETTINGS_KEY, {}))
    stored[provider] = seal(secret_key, values)
    settings[SETTINGS_KEY] = stored
    # A new dict, not an in-place change: the JSON column only notices reassignment.
    facility.settings = settings
    await session.flush()
    return dict(stored[provider]["masked"])

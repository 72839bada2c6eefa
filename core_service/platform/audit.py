"""Writing the audit log: who changed what about a facility's set-up (issue 17).

Every administrative change (staff accounts, devices, plugins, settings, facilities
created by an operator) adds one :class:`~core_service.models.AuditLog` row in the same
transaction as the change, so a change and its record commit or fail together. ``data``
holds what changed, as ``before``/``after`` where there was a before; passwords,
enrolment codes, tokens and secret plugin options are never written
(:func:`redacted`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuditLog, utcnow

#: What a secret is shown as in the log (it changed, but not to what).
REDACTED = "***"


def record(
    session: AsyncSession,
    facility_id: int,
    actor: str,
    action: str,
    *,
    subject: str = "",
    data: Mapping[str, Any] | None = None,
) -> AuditLog:
    """Add the audit row of a change to ``session`` (the caller commits it with the change)."""
    row = AuditLog(
        facility_id=facility_id,
        at=utcnow(),
        actor=actor,
        action=action,
        subject=subject,
        data=dict(data or {}),
    )
    session.add(row)
    return row


def redacted(values: Mapping[str, Any], secret_names: Iterable[str]) -> dict[str, Any]:
    """``values`` with every secret (by name) replaced by :data:`REDACTED`."""
    secrets = set(secret_names)
    return {k: (REDACTED if k in secrets and v not in ("", None) else v) for k, v in values.items()}

"""issue 17: the self-cancel switch moves to the key the cancellation policy reads

Until now ``PUT /api/v1/facility/settings {self_cancel}`` (and the workbench switch) wrote
``facility.settings["self_cancel"]`` while the policy reads
``facility.settings["cancellation"]["self_cancel"]``, so the switch did nothing. A facility
that flipped it meant it: its value moves into ``cancellation`` (beside the deadline and fee
tiers already there) and the stray key goes. The downgrade puts the stray key back as a copy,
which is what the old code read back.

Revision ID: 0020_self_cancel_setting
Revises: 0016_gate_offline
Create Date: 2026-12-08
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0020_self_cancel_setting"
down_revision: str | None = "0016_gate_offline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

facility = sa.table("facility", sa.column("id", sa.BigInteger), sa.column("settings", sa.JSON))


def _rewrite(change: Any) -> None:
    bind = op.get_bind()
    for row in bind.execute(sa.select(facility.c.id, facility.c.settings)).all():
        settings = dict(row.settings or {})
        changed = change(settings)
        if changed is not None:
            bind.execute(facility.update().where(facility.c.id == row.id).values(settings=changed))


def _moved(settings: dict[str, Any]) -> dict[str, Any] | None:
    if "self_cancel" not in settings:
        return None
    cancellation = settings.get("cancellation")
    cancellation = dict(cancellation) if isinstance(cancellation, dict) else {}
    cancellation["self_cancel"] = bool(settings.pop("self_cancel"))
    return {**settings, "cancellation": cancellation}


def _copied_back(settings: dict[str, Any]) -> dict[str, Any] | None:
    cancellation = settings.get("cancellation")
    if not isinstance(cancellation, dict) or "self_cancel" not in cancellation:
        return None
    return {**settings, "self_cancel": bool(cancellation["self_cancel"])}


def upgrade() -> None:
    _rewrite(_moved)


def downgrade() -> None:
    _rewrite(_copied_back)

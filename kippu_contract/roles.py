"""Staff roles and what each may do (F21, F22).

Roles form a ladder: owner > manager > staff > viewer. A guard asks for the lowest role
that may act; higher roles may too. ``can_see_personal_data`` decides PII masking.
"""

from __future__ import annotations

ROLES = ("viewer", "staff", "manager", "owner")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[minimum]


def can_see_personal_data(role: str) -> bool:
    """Viewers see aggregates only; everyone above sees customers' details."""
    return role_at_least(role, "staff")

"""Who is calling: a staff member, a device or a platform operator, as set on
``request.user``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    id: int
    facility_id: int
    email: str
    role: str
    display_name: str


@dataclass(frozen=True, slots=True)
class DevicePrincipal:
    id: int
    facility_id: int
    kind: str  # "kiosk" | "gate"
    name: str
    #: The facility's ``config_version`` read with the token: which cached snapshot of
    #: the facility this request may use (``tenant_cache``). No default: a guess would
    #: let a request use a stale snapshot.
    facility_version: int
    #: Products a kiosk may sell; empty means every kiosk-channel product.
    allowed_product_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class OperatorPrincipal:
    """A platform operator: deployment-level, of no facility (no ``facility_id``)."""

    id: int
    email: str

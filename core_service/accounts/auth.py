"""Bearer-token authentication for the API: staff tokens and device tokens.

Staff tokens are signed by itsdangerous and name a staff user and the user's token
version; the user is re-read on every request so that deactivating a user, changing a
role or logging out (which bumps the version) takes effect at once. Device
tokens (prefix ``kd_``) are random and looked up by their SHA-256 digest; a revoked
device is refused. Platform operator tokens (prefix ``kop_``) are signed for a purpose
of their own and name a ``platform_operator`` row: no staff guard admits one, and a staff
token is never read as one. Requests without a bearer token pass with ``user = None``; the
guards decide whether a route needs one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy.ext.asyncio import AsyncConnection

from core_service.models import Device, Facility, PlatformOperator, StaffUser
from core_service.platform.database import driver_connection
from core_service.platform.principals import DevicePrincipal, OperatorPrincipal, StaffPrincipal
from core_service.platform.security import Signer, token_digest

DEVICE_TOKEN_PREFIX = "kd_"
STAFF_TOKEN_PURPOSE = "staff"
STAFF_TOKEN_MAX_AGE = 12 * 3600
OPERATOR_TOKEN_PREFIX = "kop_"
OPERATOR_TOKEN_PURPOSE = "platform-operator"
OPERATOR_TOKEN_MAX_AGE = 8 * 3600


def issue_staff_token(signer: Signer, staff_id: int, token_version: int) -> str:
    return signer.dumps(STAFF_TOKEN_PURPOSE, {"sid": staff_id, "v": token_version})


def issue_operator_token(signer: Signer, operator_id: int, token_version: int) -> str:
    data = {"oid": operator_id, "v": token_version}
    return OPERATOR_TOKEN_PREFIX + signer.dumps(OPERATOR_TOKEN_PURPOSE, data)


# Built once: both run on every authenticated request.
_DEVICE_BY_DIGEST = (
    sa.select(
        Device.id,
        Device.facility_id,
        Device.kind,
        Device.name,
        Device.revoked_at,
        Device.allowed_product_ids,
        Facility.config_version,  # validates the worker's cached facility (tenant_cache)
    )
    .join(Facility, Facility.id == Device.facility_id)
    .where(Device.token_hash == sa.bindparam("digest"))
)
#: The same on PostgreSQL as text for asyncpg: it runs before every kiosk sale and gate
#: scan, and SQLAlchemy's execution of it cost more than the query (docs/benchmarks.md).
_DEVICE_BY_DIGEST_PG = (
    "SELECT d.id, d.facility_id, d.kind, d.name, d.revoked_at, d.allowed_product_ids,"
    " f.config_version FROM device d JOIN facility f ON f.id = d.facility_id"
    " WHERE d.token_hash = $1"
)
_STAFF_BY_ID = sa.select(
    StaffUser.id,
    StaffUser.facility_id,
    StaffUser.email,
    StaffUser.role,
    StaffUser.display_name,
    StaffUser.active,
    StaffUser.token_version,
).where(StaffUser.id == sa.bindparam("staff_id"))


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return AuthenticationResult(user=None, auth=None)
        token = header[7:].strip()
        state = connection.app.state
        # One statement on an autocommit connection: no BEGIN/ROLLBACK round trips on
        # the path every kiosk sale and gate scan takes.
        async with state.engine.connect() as raw:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            if token.startswith(DEVICE_TOKEN_PREFIX):
                device = await _device(conn, token_digest(token))
                if device is None or device["revoked_at"] is not None:
                    raise NotAuthorizedException("Unknown or revoked device token.")
                principal: Any = DevicePrincipal(
                    device["id"],
                    device["facility_id"],
                    device["kind"],
                    device["name"],
                    device["config_version"],
                    frozenset(int(p) for p in device["allowed_product_ids"] or []),
                )
            elif token.startswith(OPERATOR_TOKEN_PREFIX):
                principal = await operator_for_token(conn, state.signer, token)
                if principal is None:
                    raise NotAuthorizedException("Invalid or expired operator token; log in again.")
            else:
                data = state.signer.loads(STAFF_TOKEN_PURPOSE, token, STAFF_TOKEN_MAX_AGE)
                staff = (
                    (await conn.execute(_STAFF_BY_ID, {"staff_id": data["sid"]})).one_or_none()
                    if data
                    else None
                )
                # Tokens from before 0015 carry no version: they end with the upgrade.
                if staff is None or not staff.active or data.get("v") != staff.token_version:
                    raise NotAuthorizedException("Invalid or expired staff token; log in again.")
                principal = StaffPrincipal(
                    staff.id, staff.facility_id, staff.email, staff.role, staff.display_name
                )
        return AuthenticationResult(user=principal, auth=token)


_OPERATOR_BY_ID = sa.select(
    PlatformOperator.id,
    PlatformOperator.email,
    PlatformOperator.active,
    PlatformOperator.token_version,
).where(PlatformOperator.id == sa.bindparam("operator_id"))


async def operator_for_token(
    conn: AsyncConnection, signer: Signer, token: str
) -> OperatorPrincipal | None:
    """The active operator an operator token names, if it is valid and not ended.

    Also used by the operator's web pages, which carry the token in a cookie."""
    if not token.startswith(OPERATOR_TOKEN_PREFIX):
        return None
    data = signer.loads(
        OPERATOR_TOKEN_PURPOSE, token[len(OPERATOR_TOKEN_PREFIX) :], OPERATOR_TOKEN_MAX_AGE
    )
    if not isinstance(data, dict):
        return None
    row = (await conn.execute(_OPERATOR_BY_ID, {"operator_id": data.get("oid")})).one_or_none()
    if row is None or not row.active or data.get("v") != row.token_version:
        return None
    return OperatorPrincipal(row.id, row.email)


async def _device(conn: AsyncConnection, digest: str) -> Mapping[str, Any] | None:
    """The device row (with its facility's config_version) for a token digest."""
    if conn.dialect.name == "postgresql":
        driver = await driver_connection(conn)
        return await driver.fetchrow(_DEVICE_BY_DIGEST_PG, digest)  # type: ignore[no-any-return]
    row = (await conn.execute(_DEVICE_BY_DIGEST, {"digest": digest})).one_or_none()
    return None if row is None else dict(row._mapping)

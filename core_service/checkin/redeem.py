"""The everyday gate scan on PostgreSQL in one statement: read the ticket, use it, log it.

Nearly every scan at a gate is a day ticket or coupon book scanned at entry or at a ride,
at a facility whose webhook endpoints do not listen for ``ticket.redeemed``. Through the
ORM that scan cost about 11 ms of core CPU (a transaction, seven statements, ORM objects
built and refreshed) against 0.3 ms of PostgreSQL for the statement that decides it
(docs/benchmarks.md, "Gate scans"). Here it is one prebuilt statement on asyncpg, its
own transaction: a data-modifying CTE that reads the ticket with its product, and only if
the scan is everyday (right secret version, not cancelled, not a pass or a time stay,
valid today) takes ``use_ticket``'s conditional UPDATE and writes the check-in row,
``admitted`` when the UPDATE took a use and ``already_used`` when it did not. Two gates
scanning one ticket at once both run it; the second waits for the first's row lock and
then finds no use left, so the ticket is admitted once and both scans are logged.

Everything else writes nothing, returns None and takes the general path in
:mod:`core_service.checkin.service`, which decides and logs it as before: SQLite, exits,
annual passes (once a day, read from the check-in log), time stays (their entry starts
a clock, :mod:`.stays`), group codes, every other refusal (they
are rare, and the general path writes their reasons), and facilities whose endpoints
receive ``ticket.redeemed`` (the event must be written in the scan's transaction). So do
the cases of the gate rules (:mod:`core_service.checkin.rules`), told apart inside the
statement from the product's columns: timed tickets (their slot window), products with
re-entry (the check-in log decides) or a holder (the answer shows the holder), a coupon
book at an entry (``ride_only``) and a day ticket at a ride whose product does not use it
there. The everyday entry of a day ticket and the ride of a coupon book stay here.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core_service.models import Product, Ticket, utcnow
from core_service.models.export_seq import POSTGRESQL_EXPORT_SEQ
from core_service.platform.database import driver_connection
from core_service.platform.tenancy import Tenant
from kippu_contract.facility_time import facility_today
from kippu_contract.states import TicketStatus
from kippu_contract.tokens import KIND_TICKET, InvalidToken, read_claim, verify_token
from kippu_contract.webhooks import TICKET_REDEEMED

#: The ticket read, ``use_ticket``'s conditional UPDATE and the check-in row in one
#: statement (see the module docstring). ``everyday`` holds the ticket only when the scan
#: is everyday; otherwise nothing is written, and the row tells the caller to fall back.
#: Plain SQL sets ``export_seq`` itself, as the ORM would (core_service.models.export_seq).
_SCAN = (
    "WITH t AS ("
    " SELECT t.order_id, t.product_id, t.status, t.secret_version, t.valid_from,"
    " t.valid_until, t.uses_left, p.kind, p.name_ja, p.name_en, p.reentry_after_exit,"
    " p.rides_use_ticket, p.holder_required"
    " FROM ticket t JOIN product p ON p.id = t.product_id"
    " WHERE t.id = $1 AND t.facility_id = $2),"
    " everyday AS (SELECT 1 FROM t WHERE secret_version = $3 AND status <> 'cancelled'"
    " AND kind NOT IN ('annual_pass', 'time_stay') AND valid_from <= $4 AND valid_until >= $4"
    # The gate rules' cases take the general path (core_service/checkin/rules.py).
    " AND kind <> 'timed_admission' AND NOT reentry_after_exit AND NOT holder_required"
    " AND NOT (kind = 'coupon_book' AND $7 = 'entry')"
    " AND NOT (kind = 'day_admission' AND $7 = 'ride' AND NOT rides_use_ticket)),"
    " used AS ("
    " UPDATE ticket SET uses_left = uses_left - 1,"
    " status = CASE WHEN uses_left = 1 THEN 'used' ELSE status END,"
    " first_used_at = coalesce(first_used_at, $5), updated_at = $5,"
    f" export_seq = {POSTGRESQL_EXPORT_SEQ}"
    " WHERE id = $1 AND facility_id = $2 AND status = 'valid' AND uses_left > 0"
    " AND EXISTS (SELECT 1 FROM everyday)"
    " RETURNING uses_left, status),"
    " logged AS ("
    " INSERT INTO checkin (facility_id, ticket_id, device_id, direction, result, reason,"
    " scanned_at, export_seq)"
    " SELECT $2, $1, $6, $7,"
    " CASE WHEN EXISTS (SELECT 1 FROM used) THEN 'admitted' ELSE 'already_used' END, '', $5,"
    f" {POSTGRESQL_EXPORT_SEQ}"
    " WHERE EXISTS (SELECT 1 FROM everyday)"
    " RETURNING result)"
    " SELECT t.*, (SELECT result FROM logged) AS result, used.uses_left AS used_left,"
    " used.status AS used_status FROM t LEFT JOIN used ON true"
)


async def redeem_everyday(
    session: AsyncSession, tenant: Tenant, token: str, direction: str, device_id: int | None
) -> tuple[str, Ticket, Product] | None:
    """``(result, ticket, product)`` of an everyday scan, logged; None for the general path.

    ``result`` is ``admitted`` or ``already_used``. The ticket and product are detached,
    built from the statement's row (the ticket as it is after the scan)."""
    if (
        direction == "exit"
        or tenant.webhook_subscriptions is None
        or tenant.webhook_subscriptions.get(TICKET_REDEEMED)
    ):
        return None
    try:
        claim = read_claim(token)
        if claim.kind != KIND_TICKET or claim.facility_id != tenant.id:
            return None
        verify_token(token, tenant.facility.signing_public_key)
    except InvalidToken:
        return None
    engine = session.bind
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
        return None
    today = facility_today(tenant.facility.timezone)
    # A connection of its own, autocommit: the statement is its own transaction, and the
    # request's session stays as it was for the general path.
    async with engine.connect() as raw:
        driver = await driver_connection(await raw.execution_options(isolation_level="AUTOCOMMIT"))
        row = await driver.fetchrow(
            _SCAN, claim.subject_id, tenant.id, claim.secret_version, today, utcnow(),
            device_id, direction,
        )  # fmt: skip
    if row is None or row["result"] is None:
        return None  # unknown, superseded, cancelled, a pass or not valid today
    product = Product(
        id=row["product_id"], kind=row["kind"], name_ja=row["name_ja"], name_en=row["name_en"]
    )
    # As the general path answers: after the use if one was taken, else as it was read.
    taken = row["used_left"] is not None
    ticket = Ticket(
        id=claim.subject_id,
        facility_id=tenant.id,
        order_id=row["order_id"],
        product_id=row["product_id"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        secret_version=row["secret_version"],
        uses_left=row["used_left"] if taken else row["uses_left"],
        status=TicketStatus(row["used_status"] if taken else row["status"]),
    )
    return str(row["result"]), ticket, product

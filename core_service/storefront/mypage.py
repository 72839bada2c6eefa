"""My Page: a visitor's order history in one facility, opened with an e-mailed magic link.

The visitor asks for a link on the My Page form; the link carries the facility and
address signed with itsdangerous; opening it sets a signed session cookie scoped to that
facility's ``/shop/<slug>/`` path, so a session for one facility never shows another
facility's orders (and the service re-checks the facility).

Once logged in, a visitor may also set an optional password (Argon2id, in a worker
thread) and later log in with e-mail and password. The link keeps working either way.
Password login answers every failure with the same message (unknown address, no password
set, wrong password) so it cannot be used to learn who bought tickets here; repeated
failures pause it from that client address (login_throttle).

Sessions are revocable: the cookie carries the customer's ``session_version``, which
logging out and setting or removing a password bump, so every earlier cookie (a shared
computer's, a stolen one's) stops working at once; each page checks it (one indexed
read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts import login_throttle
from core_service.aftersales.cancellation import cancellable, policy_of
from core_service.aftersales.distribution import transfers_of
from core_service.aftersales.receipts import receipts_of
from core_service.mailing.addresses import is_email_address
from core_service.mailing.messages import mypage_link
from core_service.mailing.outbox import enqueue
from core_service.models import Customer, Order, Refund
from core_service.platform import urls
from core_service.platform.errors import NotFound
from core_service.platform.security import (
    Signer,
    hash_password,
    hash_password_in_thread,
    verify_password_in_thread,
)
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.storefront.ticket_page import TicketView, ticket_views
from kippu_contract.facility_time import facility_today
from kippu_contract.states import OrderStatus, TransferState

SESSION_COOKIE = "kippu_mypage"
SESSION_PURPOSE = "mypage-session"
SESSION_MAX_AGE = 30 * 24 * 3600
#: Orders that never got paid are clutter in a purchase history.
HIDDEN_STATUSES = (OrderStatus.EXPIRED,)


@dataclass(frozen=True, slots=True)
class MyPageSession:
    facility_id: int
    customer_id: int
    #: The customer's ``session_version`` when the session began.
    version: int = 0


def session_cookie_value(signer: Signer, session: MyPageSession) -> str:
    return signer.dumps(
        SESSION_PURPOSE, {"f": session.facility_id, "c": session.customer_id, "v": session.version}
    )


def read_session(signer: Signer, tenant: Tenant, cookie: str | None) -> MyPageSession | None:
    """The session the cookie claims for this facility (signature checked, version not:
    see :func:`current_session`), or None."""
    if not cookie:
        return None
    data = signer.loads(SESSION_PURPOSE, cookie, SESSION_MAX_AGE)
    # Cookies from before sessions had versions carry none: they end with the upgrade.
    if not isinstance(data, dict) or data.get("f") != tenant.id or "v" not in data:
        return None
    return MyPageSession(tenant.id, int(data["c"]), int(data["v"]))


async def current_session(
    session: AsyncSession, signer: Signer, tenant: Tenant, cookie: str | None
) -> MyPageSession | None:
    """The cookie's session if it is still valid: signed for this facility, and not
    ended by a logout or a password change since."""
    claimed = read_session(signer, tenant, cookie)
    if claimed is None:
        return None
    version = await session.scalar(
        sa.select(Customer.session_version).where(
            Customer.id == claimed.customer_id, Customer.facility_id == tenant.id
        )
    )
    return claimed if version == claimed.version else None


async def end_sessions(session: AsyncSession, tenant: Tenant, me: MyPageSession) -> None:
    """Log the visitor out everywhere: every cookie issued so far stops working."""
    await session.execute(
        sa.update(Customer)
        .where(Customer.id == me.customer_id, Customer.facility_id == tenant.id)
        .values(session_version=Customer.session_version + 1)
    )
    await session.commit()


#: Shortest accepted password; the same rule as staff passwords.
MIN_PASSWORD_LENGTH = 8
#: Longest accepted password: Argon2 would take anything, but a cap keeps a megabyte
#: "password" from being hashed on every request.
MAX_PASSWORD_LENGTH = 1024

# Verifying against a real hash when there is nothing to verify (unknown address, no
# password set, throttled) keeps the response time close to a wrong-password answer.
_DUMMY_HASH = hash_password("kippu-mypage-timing-equaliser")


def valid_email(email: str) -> bool:
    return is_email_address(email)


async def send_link(
    session: AsyncSession,
    tenant: Tenant,
    email: str,
    *,
    locale: str,
    settings: Settings,
    signer: Signer,
) -> bool:
    """Queue a magic link if the address is a customer of this facility.

    The page says the same thing either way, so the form cannot be used to learn who
    bought tickets here. Returns whether a mail was queued (for tests and logs).
    """
    email = email.strip().lower()
    customer = await session.scalar(
        sa.select(Customer).where(Customer.facility_id == tenant.id, Customer.email == email)
    )
    if customer is None:
        return False
    path = urls.magic_link_path(signer, tenant.facility.slug, tenant.id, email, locale=locale)
    message = mypage_link(
        tenant.facility, locale=locale, login_url=urls.absolute(settings.base_url, path)
    )
    enqueue(
        session,
        tenant.id,
        kind="mypage_link",
        to=email,
        subject=message.subject,
        text=message.text,
        html=message.html,
    )
    await session.commit()
    return True


async def open_link(
    session: AsyncSession, tenant: Tenant, signer: Signer, token: str
) -> MyPageSession | None:
    """The session a magic link opens, or None if it is invalid, expired or for another
    facility."""
    data = urls.read_magic_link(signer, token)
    if data is None or data["f"] != tenant.id:
        return None
    customer = (
        await session.execute(
            sa.select(Customer.id, Customer.session_version).where(
                Customer.facility_id == tenant.id, Customer.email == data["e"]
            )
        )
    ).first()
    return MyPageSession(tenant.id, customer.id, customer.session_version) if customer else None


async def request_session(
    request: Request[Any, Any, Any], session: AsyncSession, tenant: Tenant, signer: Signer
) -> MyPageSession | None:
    """The visitor's My Page session from its signed cookie, if still valid here."""
    return await current_session(session, signer, tenant, request.cookies.get(SESSION_COOKIE))


async def signed_in_customer(
    session: AsyncSession, tenant: Tenant, me: MyPageSession
) -> Customer | None:
    return await session.scalar(
        sa.select(Customer).where(Customer.id == me.customer_id, Customer.facility_id == tenant.id)
    )


async def customer_orders(
    session: AsyncSession, tenant: Tenant, me: MyPageSession
) -> tuple[Customer | None, list[Order]]:
    customer = await signed_in_customer(session, tenant, me)
    if customer is None:
        return None, []
    orders = await session.scalars(
        sa.select(Order)
        .where(
            Order.facility_id == tenant.id,
            Order.customer_id == customer.id,
            Order.status.not_in(HIDDEN_STATUSES),
        )
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    return customer, list(orders)


def receipt_path(slug: str, order: Order) -> str:
    query = urlencode({"key": order.access_key})
    return f"/shop/{quote(slug)}/orders/{quote(order.code)}/receipt?{query}"


def cancel_path(slug: str, code: str) -> str:
    return f"{urls.mypage_path(slug)}/orders/{quote(code)}/cancel"


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """One order on My Page: its tickets with QR codes and what the visitor may do."""

    order: Order
    tickets: list[TicketView]
    order_url: str
    receipt_url: str
    cancel_url: str
    receipts_issued: int
    refunds: list[Refund]


async def order_summaries(
    session: AsyncSession, tenant: Tenant, orders: list[Order], *, secret_key: str, locale: str
) -> list[OrderSummary]:
    policy = policy_of(tenant)
    today = facility_today(tenant.facility.timezone)
    slug = tenant.facility.slug
    summaries = []
    for order in orders:
        transfers = await transfers_of(session, order)
        tickets = (
            await ticket_views(session, tenant.facility, order, secret_key, locale, transfers)
            if order.status in (OrderStatus.PAID, OrderStatus.CANCELLED)
            else []
        )
        # Offer cancellation only where the policy would accept it, so the button never
        # leads to a refusal.
        may_cancel = order.status == OrderStatus.PAID and any(
            cancellable(t)
            and policy.visitor_may_cancel((t.valid_from - today).days)
            and (t.id not in transfers or transfers[t.id].state != TransferState.CLAIMED)
            for t in order.tickets
        )
        refunds = await session.scalars(
            sa.select(Refund).where(Refund.order_id == order.id).order_by(Refund.id)
        )
        summaries.append(
            OrderSummary(
                order=order,
                tickets=tickets,
                order_url=urls.order_path(slug, order.code, order.access_key),
                receipt_url=receipt_path(slug, order) if order.paid_at is not None else "",
                cancel_url=cancel_path(slug, order.code) if may_cancel else "",
                receipts_issued=len(await receipts_of(session, order)),
                refunds=list(refunds),
            )
        )
    return summaries


async def my_order(session: AsyncSession, tenant: Tenant, me: MyPageSession, code: str) -> Order:
    """An order of the logged-in visitor; NotFound for anyone else's."""
    order = await session.scalar(
        sa.select(Order).where(
            Order.facility_id == tenant.id,
            Order.code == code,
            Order.customer_id == me.customer_id,
        )
    )
    if order is None:
        raise NotFound("No such order.", "ご注文が見つかりません。")
    return order


def password_problem(password: str, confirmation: str) -> str:
    """Why a new password cannot be used (an English msgid), or "" if it can."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "Passwords need at least 8 characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return "This password is too long."
    if password != confirmation:
        return "The two passwords are not the same."
    return ""


async def set_password(
    session: AsyncSession, tenant: Tenant, me: MyPageSession, password: str | None
) -> MyPageSession | None:
    """Set (or with None remove) the logged-in visitor's password; the new session for
    this browser (every other one ends), or None if the customer is gone. Callers check
    :func:`password_problem` first."""
    customer = await session.scalar(
        sa.select(Customer).where(Customer.id == me.customer_id, Customer.facility_id == tenant.id)
    )
    if customer is None:
        return None
    customer.password_hash = (
        await hash_password_in_thread(password) if password is not None else None
    )
    customer.session_version += 1
    # A fresh password (or none) starts with a clean slate.
    await login_throttle.forget_login(session, _login_key(tenant, customer.email))
    await session.commit()
    return MyPageSession(tenant.id, customer.id, customer.session_version)


def _login_key(tenant: Tenant, email: str) -> str:
    return login_throttle.login_key("mypage", tenant.id, email)


async def password_login(
    session: AsyncSession, tenant: Tenant, email: str, password: str, address: str
) -> MyPageSession | None:
    """The session for a correct e-mail and password of this facility, or None.

    None covers every failure alike; callers show one message for all of them. Every
    path runs exactly one Argon2 verification so the timing tells nothing either. Raises
    TooManyAttempts while this login (or the address) is paused from ``address``.
    """
    email = email.strip().lower()
    attempt = await login_throttle.begin(session, address, _login_key(tenant, email))
    customer = (
        await session.execute(
            sa.select(Customer.id, Customer.password_hash, Customer.session_version).where(
                Customer.facility_id == tenant.id, Customer.email == email
            )
        )
    ).first()
    # End the read before the ~145 ms of Argon2: no connection is held meanwhile. Commit
    # rather than roll back: a rollback would expire the tenant's objects pages still read.
    await session.commit()
    if customer is None or customer.password_hash is None:
        await verify_password_in_thread(_DUMMY_HASH, password)
        return None
    if not await verify_password_in_thread(customer.password_hash, password):
        return None
    await login_throttle.succeeded(session, attempt)
    return MyPageSession(tenant.id, customer.id, customer.session_version)

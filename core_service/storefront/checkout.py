"""The web checkout as a service: the product page's data, and a submitted form turned
into an order and a payment.

Controllers call :func:`product_page` to show the form and :func:`submit` to process it;
``submit`` either returns where to send the visitor next (the payment provider's page) or
the form again with its errors and everything the visitor typed.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from litestar.datastructures import FormMultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.catalog.rules import sale_window_error
from core_service.catalog.service import DateAvailability, availability, products_for_channel
from core_service.models import Order, Product, utcnow
from core_service.orders.placement import CheckoutRefused, place_order
from core_service.payments.registry import MethodChoice, method_choices
from core_service.payments.service import start_payment
from core_service.payments.transitions import payment_outcome
from core_service.platform import urls
from core_service.platform.errors import InvalidInput, NotFound, SoldOut
from core_service.platform.security import Signer, new_token
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant
from core_service.plugins.values import CheckoutField
from core_service.storefront.forms import (
    FORM,
    CheckoutForm,
    FormErrors,
    to_checkout_request,
    validate,
)
from core_service.vouchers import discounts
from core_service.vouchers.uses import (
    REFUSALS,
    VoucherUnknown,
    VoucherUsedUp,
    not_applicable,
    terms_of,
    usable_voucher,
)
from kippu_contract.facility_time import facility_today
from kippu_contract.states import OrderStatus

#: How far ahead the date picker goes.
BOOKING_DAYS = 30


@dataclass(slots=True)
class ProductPage:
    """Everything the product page template shows."""

    product: Product
    dates: list[DateAvailability]
    fields: list[CheckoutField]
    payment_choices: list[MethodChoice]
    form: CheckoutForm
    errors: FormErrors = field(default_factory=FormErrors)
    #: Add-ons offered with the product (parking, ...).
    addons: list[Product] = field(default_factory=list)
    #: Why the product cannot be bought now (sales window), in the visitor's language.
    not_on_sale: str = ""
    #: The voucher's effect on the tickets chosen, after "Apply" (shown before paying).
    voucher_preview: VoucherPreview | None = None

    def context(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "dates": self.dates,
            "fields": self.fields,
            "payment_choices": self.payment_choices,
            "form": self.form,
            "errors": self.errors,
            "addons": self.addons,
            "not_on_sale": self.not_on_sale,
            "voucher_preview": self.voucher_preview,
            "included_tax": included_tax,
        }


@dataclass(frozen=True, slots=True)
class VoucherPreview:
    code: str
    discount: int
    #: What the tickets chosen cost before and after the discount, tax included.
    before: int
    after: int


def included_tax(amount: int, rate: int) -> int:
    """Consumption tax contained in a tax-inclusive yen amount (rounded down)."""
    return amount * rate // (100 + rate)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """Either ``redirect_to`` (go on to pay) or ``page`` (show the form again)."""

    redirect_to: str = ""
    page: ProductPage | None = None
    status_code: int = 200


async def web_products(session: AsyncSession, tenant: Tenant) -> list[Product]:
    """Products the shop lists: add-ons are offered on their main product's page, and
    products whose sales ended are gone (those not yet on sale stay, with their date)."""
    now = utcnow()
    return [
        p
        for p in await products_for_channel(session, tenant, "web")
        if not p.is_addon and (p.sale_ends_at is None or now < p.sale_ends_at)
    ]


async def web_addons(session: AsyncSession, tenant: Tenant, product: Product) -> list[Product]:
    """Add-ons sold with ``product`` on the web."""
    if product.is_addon:
        return []
    return [
        p
        for p in await products_for_channel(session, tenant, "web")
        if p.is_addon
        and (not p.addon_for or product.code in p.addon_for)
        # A dated add-on (parking for a day) needs a dated main product.
        and (product.requires_date or not p.requires_date)
    ]


async def web_product(session: AsyncSession, tenant: Tenant, code: str) -> Product:
    product = await session.scalar(
        sa.select(Product).where(
            Product.facility_id == tenant.id, Product.code == code, Product.active.is_(True)
        )
    )
    if product is None or "web" not in product.channels or product.is_addon:
        raise NotFound("No such product.", "商品が見つかりません。")
    return product


def booking_dates(tenant: Tenant) -> list[dt.date]:
    today = facility_today(tenant.facility.timezone)
    return [today + dt.timedelta(days=i) for i in range(BOOKING_DAYS)]


async def product_page(
    session: AsyncSession,
    tenant: Tenant,
    product: Product,
    *,
    locale: str,
    settings: Settings,
    form: CheckoutForm | None = None,
) -> ProductPage:
    dates = (
        await availability(session, tenant, product, booking_dates(tenant))
        if product.requires_date
        else []
    )
    choices = method_choices(tenant, "web", locale, settings)
    if form is None:
        # A fresh id per form view makes a resubmitted form replay one checkout.
        form = CheckoutForm(checkout_id=new_token(16), payment=choices[0].value if choices else "")
        if product.holder_required:
            form = CheckoutForm.parse(_EMPTY_FORM, product, [])
            form.checkout_id = new_token(16)
            form.payment = choices[0].value if choices else ""
    window = sale_window_error(product, utcnow())
    return ProductPage(
        product,
        dates,
        tenant.plugins.checkout_fields("web"),
        choices,
        form,
        addons=await web_addons(session, tenant, product),
        not_on_sale=window.message(locale) if window else "",
    )


_EMPTY_FORM = FormMultiDict({})


async def submit(
    session: AsyncSession,
    tenant: Tenant,
    product: Product,
    data: FormMultiDict,
    *,
    locale: str,
    settings: Settings,
    signer: Signer,
) -> SubmitResult:
    """Validate the form, place the order and start its payment."""
    fields = tenant.plugins.checkout_fields("web")
    addons = await web_addons(session, tenant, product)
    form = CheckoutForm.parse(data, product, fields, addons)
    page = await product_page(session, tenant, product, locale=locale, settings=settings, form=form)
    if data.get("action") == "add_holder":
        # "Add another pass" only shows one more holder block; nothing is bought yet.
        return SubmitResult(page=page)
    if data.get("action") == "apply_voucher":
        # "Apply" shows what the code takes off the tickets chosen; nothing is bought yet.
        return await _preview_voucher(session, tenant, page, [product, *addons])
    bookable = [d.date for d in page.dates if d.bookable]
    chosen = next((d for d in page.dates if d.date.isoformat() == form.visit_date), None)
    errors, visit_date, quantities = validate(
        form,
        product,
        allowed_dates=bookable if product.requires_date else [],
        payment_values=[c.value for c in page.payment_choices],
        plugin_errors=tenant.plugins.validate_checkout("web", form.answers),
        allowed_slots=[s.slot for s in chosen.slots if not s.sold_out] if chosen else [],
    )
    if page.not_on_sale:
        errors.add(FORM, page.not_on_sale, page.not_on_sale)
    # A date that is offered but not bookable any more sold out since the page was shown.
    if (
        product.requires_date
        and "visit_date" in errors.by_field
        and chosen is not None
        and not chosen.closed
    ):
        errors.by_field.pop("visit_date")
        errors.add(
            FORM,
            "Sorry, this date is sold out. Please choose another date.",
            "申し訳ありません。この日は売り切れました。別の日をお選びください。",
        )
    if not page.payment_choices:
        errors.add(
            FORM,
            "Online sales are not available at the moment.",
            "現在オンライン販売はご利用いただけません。",
        )
    if errors:
        page.errors = errors
        return SubmitResult(page=page, status_code=409 if FORM in errors.by_field else 422)
    request = to_checkout_request(
        form,
        visit_date,
        quantities,
        locale,
        main_category_ids={c.id for c in product.price_categories},
    )
    try:
        order, _created = await place_order(
            session, tenant, request, hold_minutes=settings.hold_minutes
        )
    except (SoldOut, InvalidInput, *REFUSALS) as exc:
        # place_order rolled back, which expired every loaded row; the form is shown again
        # from the facility and the product, so they are read again now (an async session
        # cannot lazy-load while the template renders).
        await session.refresh(tenant.facility)
        await session.refresh(product)  # price categories are selectin-loaded with it
        for addon in page.addons:
            await session.refresh(addon)
        _add_refusal(page.errors, exc)
        conflict = isinstance(exc, SoldOut | VoucherUsedUp)
        return SubmitResult(page=page, status_code=409 if conflict else 422)
    return SubmitResult(
        redirect_to=await pay(
            session, tenant, order, form.payment, settings=settings, signer=signer
        )
    )


async def _preview_voucher(
    session: AsyncSession, tenant: Tenant, page: ProductPage, products: list[Product]
) -> SubmitResult:
    """The form again, with what its voucher code takes off the tickets chosen (or why
    it cannot be used) beside the code."""
    form = page.form
    chosen = [
        (category, int(form.quantities[category.id]))
        for p in products
        for category in p.price_categories
        if form.quantities.get(category.id, "").isdigit() and int(form.quantities[category.id]) > 0
    ]
    try:
        if not form.voucher_code:
            raise VoucherUnknown("Enter a voucher code.", "クーポンコードを入力してください。")
        voucher = await usable_voucher(session, tenant, form.voucher_code, utcnow())
        lines = [discounts.Line(c.product_id, c.price * q) for c, q in chosen]
        terms = terms_of(voucher)
        if not discounts.applies(terms, lines):
            raise not_applicable()
    except REFUSALS as exc:
        page.errors.add("voucher_code", exc.message_en, exc.message_ja)
        return SubmitResult(page=page, status_code=409 if isinstance(exc, VoucherUsedUp) else 422)
    off = sum(discounts.line_discounts(terms, lines))
    before = sum((c.price + c.handling_fee) * q for c, q in chosen)
    page.voucher_preview = VoucherPreview(voucher.code, off, before, before - off)
    return SubmitResult(page=page)


def _add_refusal(errors: FormErrors, exc: Exception) -> None:
    """Turn a refusal of ``place_order`` into errors beside the fields (or above the form)."""
    if isinstance(exc, REFUSALS):
        errors.add("voucher_code", exc.message_en, exc.message_ja)
    elif isinstance(exc, CheckoutRefused):
        for error in exc.field_errors:
            errors.add_field_error(error)
    elif isinstance(exc, SoldOut):
        errors.add(
            FORM,
            "Sorry, not enough tickets are left for this date. Please choose "
            "another date or fewer tickets.",
            "申し訳ありません。ご希望の枚数の空きがありません。別の日か少ない枚数でお試しください。",
        )
    elif isinstance(exc, InvalidInput):
        errors.add(FORM, exc.message_en, exc.message_ja)


async def pay(
    session: AsyncSession,
    tenant: Tenant,
    order: Order,
    choice: str,
    *,
    settings: Settings,
    signer: Signer,
) -> str:
    """Start paying ``order`` with the "provider:method" ``choice``; where to go next."""
    ticket_page = urls.order_path(tenant.facility.slug, order.code, order.access_key)
    if order.status != OrderStatus.PENDING:
        return ticket_page  # a replayed, already paid checkout: show its tickets
    provider_name, _, method = choice.partition(":")
    action = await start_payment(
        session,
        tenant,
        order,
        provider_name=provider_name,
        method=method,
        settings=settings,
        signer=signer,
    )
    if action.kind == "redirect" and action.url:
        return action.url
    return ticket_page


async def order_for_visitor(session: AsyncSession, tenant: Tenant, code: str, key: str) -> Order:
    """The order whose ticket page this is; a wrong key looks like a missing order."""
    order = await session.scalar(
        sa.select(Order).where(Order.facility_id == tenant.id, Order.code == code)
    )
    if order is None or not key or not secrets.compare_digest(order.access_key, key):
        raise NotFound("No such order.", "ご注文が見つかりません。")
    return order


async def late_payment_notice(session: AsyncSession, tenant: Tenant, order: Order) -> str:
    """ "reacquired", "refund" or "": what the order page says about a payment that
    arrived after the order's hold had expired."""
    return await payment_outcome(session, tenant, order)

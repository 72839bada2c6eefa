"""The platform operator's web page, ``/platform/`` (issue 17.1), in Japanese and English.

One page: the login form, or (logged in) the form that creates a facility with its first
owner, and the list of facilities. It calls the same services as the operator's API
(:mod:`core_service.accounts.operators`). The operator token is kept in an HTTP-only,
SameSite=Strict cookie limited to ``/platform``; every form carries the CSRF token (the
app's CSRF middleware refuses a post without it). A refused form is shown again with
what was typed (never the passwords) and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts.auth import operator_for_token
from core_service.accounts.operators import (
    create_facility_with_owner,
    list_facilities,
    log_in_operator,
    log_out_operator,
)
from core_service.platform.client_address import client_address
from core_service.platform.csrf import form_field
from core_service.platform.errors import KippuError
from core_service.platform.i18n.choice import request_locale
from core_service.platform.principals import OperatorPrincipal
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.templating import build_environment
from kippu_contract.v1.platform import NewFacilityOut, OperatorLoginIn, PlatformFacilityIn

COOKIE = "kippu_operator"
COOKIE_PATH = "/platform"
_ENVIRONMENT = build_environment(Path(__file__).parent / "templates")

#: The facility form's fields in order, with their input types.
FIELDS = (
    ("slug", "text"),
    ("name_ja", "text"),
    ("name_en", "text"),
    ("timezone", "text"),
    ("contact_email", "email"),
    ("tax_registration_number", "text"),
    ("owner_email", "email"),
    ("owner_password", "password"),
)
REQUIRED = {"slug", "name_ja", "name_en", "timezone", "contact_email", "owner_email"}

TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "title": "kippu 運営者ページ",
        "other_language": "English",
        "email": "メールアドレス",
        "password": "パスワード",
        "login": "ログイン",
        "logout": "ログアウト",
        "logged_in_as": "ログイン中:",
        "new_facility": "施設を作成",
        "create": "作成する",
        "created": "施設を作成しました:",
        "owner": "オーナー",
        "one_time_password": "オーナーの初期パスワード（この一度だけ表示します）:",
        "facilities": "施設一覧",
        "field_slug": "スラッグ（URL 用、半角英小文字・数字・ハイフン）",
        "field_name_ja": "施設名（日本語）",
        "field_name_en": "施設名（英語）",
        "field_timezone": "タイムゾーン",
        "field_contact_email": "連絡先メールアドレス",
        "field_tax_registration_number": "適格請求書発行事業者登録番号（任意）",
        "field_owner_email": "最初のオーナーのメールアドレス",
        "field_owner_password": "オーナーの初期パスワード（空欄なら自動で作成）",
        "login_required": "ログインしてください。",
    },
    "en": {
        "title": "kippu platform operator",
        "other_language": "日本語",
        "email": "E-mail",
        "password": "Password",
        "login": "Log in",
        "logout": "Log out",
        "logged_in_as": "Logged in as",
        "new_facility": "Create a facility",
        "create": "Create",
        "created": "Facility created:",
        "owner": "Owner",
        "one_time_password": "The owner's initial password (shown this once):",
        "facilities": "Facilities",
        "field_slug": "Slug (for URLs: lower-case letters, digits, hyphens)",
        "field_name_ja": "Name (Japanese)",
        "field_name_en": "Name (English)",
        "field_timezone": "Time zone",
        "field_contact_email": "Contact e-mail",
        "field_tax_registration_number": "Qualified-invoice registration number (optional)",
        "field_owner_email": "First owner's e-mail",
        "field_owner_password": "Owner's initial password (empty: one is made)",
        "login_required": "Please log in.",
    },
}


async def _operator(
    request: Request[Any, Any, Any], session: AsyncSession
) -> OperatorPrincipal | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    signer: Signer = request.app.state.signer
    connection = await session.connection()
    return await operator_for_token(connection, signer, token)


async def _page(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    operator: OperatorPrincipal | None,
    *,
    status_code: int = 200,
    error: str = "",
    form: dict[str, str] | None = None,
    created: NewFacilityOut | None = None,
) -> Response[str]:
    locale = request_locale(request)
    facilities = await list_facilities(session) if operator is not None else []
    body = _ENVIRONMENT.get_template("platform.html").render(
        request=request,
        locale=locale,
        other_locale="en" if locale == "ja" else "ja",
        t=TEXT[locale],
        csrf_input=form_field(request),
        operator=operator,
        error=error,
        form={"timezone": "Asia/Tokyo", **(form or {})},
        fields=FIELDS,
        required=REQUIRED,
        facilities=facilities,
        created=created,
    )
    return Response(body, status_code=status_code, media_type=MediaType.HTML)


@get("/platform/")
async def platform_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[str]:
    return await _page(request, db_session, await _operator(request, db_session))


@post("/platform/login", status_code=303)
async def platform_login(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    form = await request.form()
    email = str(form.get("email") or "")
    login = OperatorLoginIn(email=email, password=str(form.get("password") or ""))
    try:
        answer = await log_in_operator(
            db_session, request.app.state.signer, login, client_address(request)
        )
    except KippuError as exc:
        return await _page(
            request,
            db_session,
            None,
            status_code=exc.status_code,
            error=exc.message(request_locale(request)),
            form={"email": email},
        )
    return Redirect(
        f"/platform/?lang={request_locale(request)}",
        status_code=303,
        cookies=[
            Cookie(
                key=COOKIE,
                value=answer.token,
                path=COOKIE_PATH,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        ],
    )


@post("/platform/facilities", status_code=200)
async def platform_create_facility(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Response[str]:
    locale = request_locale(request)
    operator = await _operator(request, db_session)
    if operator is None:
        return await _page(
            request, db_session, None, status_code=401, error=TEXT[locale]["login_required"]
        )
    raw = await request.form()
    form = {name: str(raw.get(name) or "").strip() for name, _ in FIELDS}
    typed = {k: v for k, v in form.items() if k != "owner_password"}
    try:
        data = msgspec.convert(
            {**typed, "owner_password": form["owner_password"] or None}, PlatformFacilityIn
        )
        created = await create_facility_with_owner(
            db_session, settings.secret_key, data, actor=operator.email
        )
    except KippuError as exc:
        await db_session.rollback()
        return await _page(
            request, db_session, operator, status_code=exc.status_code,
            error=exc.message(locale), form=typed,
        )  # fmt: skip
    return await _page(request, db_session, operator, created=created)


@post("/platform/logout", status_code=303)
async def platform_logout(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    operator = await _operator(request, db_session)
    if operator is not None:
        await log_out_operator(db_session, operator)
    response: Response[Any] = Redirect(
        f"/platform/?lang={request_locale(request)}", status_code=303
    )
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


PLATFORM_PAGE_HANDLERS = [platform_page, platform_login, platform_create_facility, platform_logout]

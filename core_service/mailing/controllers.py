"""Mailing API (managers and owners) and the visitor's unsubscribe page.

- ``POST /api/v1/mailings``: pseudonymous keys + composition → a queued campaign;
- ``POST /api/v1/mailings/test``: the composition to the caller's own address;
- ``GET /api/v1/mailings`` and ``GET /api/v1/mailings/{id}``: campaigns and their status;
- ``GET /unsubscribe/{token}`` shows a confirmation button (a GET never changes anything,
  because mail scanners follow links) and ``POST /unsubscribe/{token}`` unsubscribes.
"""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.mailing import staff_mailings
from core_service.mailing.schemas import MailingIn, MailingOut, TestMailIn, TestMailOut
from core_service.platform import csrf
from core_service.platform.guards import requires_role
from core_service.platform.principals import StaffPrincipal
from core_service.platform.security import Signer
from core_service.platform.settings import Settings
from core_service.platform.tenancy import Tenant

StaffRequest = Request[StaffPrincipal, Any, Any]


class MailingController(Controller):
    path = "/api/v1/mailings"
    guards = [requires_role("manager")]

    @post("/", status_code=HTTP_201_CREATED)
    async def create(
        self,
        request: StaffRequest,
        data: JSONBody[MailingIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        signer: NamedDependency[Signer],
        settings: NamedDependency[Settings],
    ) -> MailingOut:
        return await staff_mailings.new_mailing(
            db_session,
            signer,
            tenant,
            data,
            base_url=settings.base_url,
            created_by=request.user.email,
        )

    @post("/test", status_code=HTTP_202_ACCEPTED)
    async def test(
        self,
        request: StaffRequest,
        data: JSONBody[TestMailIn],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> TestMailOut:
        return await staff_mailings.send_test_mailing(
            db_session, tenant, data, base_url=settings.base_url, to=request.user.email
        )

    @get("/")
    async def list_mailings(
        self, tenant: NamedDependency[Tenant], db_session: NamedDependency[AsyncSession]
    ) -> list[MailingOut]:
        return await staff_mailings.mailings(db_session, tenant)

    @get("/{mailing_id:int}")
    async def get_mailing(
        self,
        mailing_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
    ) -> MailingOut:
        return await staff_mailings.mailing(db_session, tenant, mailing_id)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em}"
    "button{padding:.7em 1.4em}"
)
_PAGE = (
    """<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>配信停止 / Unsubscribe</title>
<style>"""
    + _STYLE.replace("{", "{{").replace("}", "}}")
    + """</style></head>
<body><h1>{facility}</h1>{content}</body></html>"""
)
#: The Content-Security-Policy allows this page's one inline style by its hash.
_PAGE_CSP = {
    "style-src": [
        "'sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode() + "'"
    ]
}


def _page(facility: str, content: str) -> Response[str]:
    return Response(
        _PAGE.format(facility=html.escape(facility), content=content),
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@get("/unsubscribe/{token:str}", exclude_from_auth=True, opt={"csp_sources": _PAGE_CSP})
async def unsubscribe_form(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    signer: NamedDependency[Signer],
) -> Response[str]:
    facility_name = await staff_mailings.unsubscribe_question(db_session, signer, token)
    return _page(
        facility_name,
        '<p id="question">お知らせメールの配信を停止しますか？<br>'
        "Stop receiving news by e-mail?</p>"
        f'<form method="post" action="/unsubscribe/{html.escape(token)}">{csrf.form_field(request)}'
        '<button type="submit" id="unsubscribe">配信を停止する / Unsubscribe</button></form>',
    )


@post(
    "/unsubscribe/{token:str}",
    exclude_from_auth=True,
    status_code=HTTP_200_OK,
    opt={"csp_sources": _PAGE_CSP},
)
async def unsubscribe_confirm(
    token: FromPath[str], db_session: NamedDependency[AsyncSession], signer: NamedDependency[Signer]
) -> Response[str]:
    """The form's target: the signed token says who, the CSRF token that the form sent it.

    (An RFC 8058 one-click target, which mail providers post to without the form, would
    need a path of its own exempted in :mod:`core_service.platform.csrf`.)"""
    facility_name = await staff_mailings.confirm_unsubscribe(db_session, signer, token)
    return _page(
        facility_name,
        '<p id="done">配信を停止しました。<br>You have been unsubscribed.</p>',
    )


UNSUBSCRIBE_HANDLERS = [unsubscribe_form, unsubscribe_confirm]

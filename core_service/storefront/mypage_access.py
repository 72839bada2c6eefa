"""The My Page login check, once: dependencies for the pages behind the visitor's session.

A page that needs the logged-in visitor declares ``me: NamedDependency[MyPageSession]``;
without a valid session cookie for the facility in the URL (or one ended by a logout or
a password change), :func:`provide_me` raises
:class:`MyPageLoginRequired` and :func:`redirect_to_login` answers with a redirect to the
My Page login (303), so no handler repeats the check. A page that shows something either
way (My Page itself: the history or the login form) declares ``visitor:
NamedDependency[MyPageSession | None]``. Controllers mount both with
:data:`MYPAGE_DEPENDENCIES` and :data:`MYPAGE_EXCEPTION_HANDLERS`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.platform import urls
from core_service.platform.security import Signer
from core_service.platform.tenancy import Tenant
from core_service.storefront.mypage import MyPageSession, request_session


class MyPageLoginRequired(Exception):
    """The page needs a My Page session and the request has none for this facility."""

    def __init__(self, login_url: str) -> None:
        super().__init__(login_url)
        self.login_url = login_url


async def provide_visitor(
    request: Request[Any, Any, Any],
    shop: NamedDependency[Tenant],
    db_session: NamedDependency[AsyncSession],
    signer: NamedDependency[Signer],
) -> MyPageSession | None:
    """The visitor's My Page session for this facility, or None."""
    return await request_session(request, db_session, shop, signer)


async def provide_me(
    request: Request[Any, Any, Any],
    shop: NamedDependency[Tenant],
    db_session: NamedDependency[AsyncSession],
    signer: NamedDependency[Signer],
) -> MyPageSession:
    """The visitor's My Page session for this facility; without one, the login page."""
    me = await request_session(request, db_session, shop, signer)
    if me is None:
        raise MyPageLoginRequired(urls.mypage_path(shop.facility.slug))
    return me


def redirect_to_login(_: Request[Any, Any, Any], exc: MyPageLoginRequired) -> Redirect:
    return Redirect(exc.login_url, status_code=303)


MYPAGE_DEPENDENCIES: dict[str, Provide] = {
    "me": Provide(provide_me),
    "visitor": Provide(provide_visitor),
}
MYPAGE_EXCEPTION_HANDLERS: dict[Any, Any] = {MyPageLoginRequired: redirect_to_login}

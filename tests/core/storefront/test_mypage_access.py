"""The My Page login check as dependencies: who the visitor is, or the way to log in."""

from __future__ import annotations

from typing import Any, cast

import pytest
from litestar.testing import RequestFactory

from core_service.models import Facility
from core_service.platform.security import Signer
from core_service.platform.tenancy import Tenant
from core_service.storefront.mypage import SESSION_COOKIE, MyPageSession, session_cookie_value
from core_service.storefront.mypage_access import (
    MyPageLoginRequired,
    provide_me,
    provide_visitor,
    redirect_to_login,
)

SIGNER = Signer("test-secret-for-mypage-access")


class _Customers:
    """Stands in for the database session: the customer's current session version
    (None: no such customer). The real lookup is tested over HTTP in
    test_mypage_password."""

    def __init__(self, version: int | None = 0) -> None:
        self.version = version

    async def scalar(self, _statement: object) -> int | None:
        return self.version


DB: Any = _Customers()


def _shop(facility_id: int = 1, slug: str = "park") -> Tenant:
    # Only the facility matters to the login check; the plugin view is not consulted.
    return Tenant(
        facility=Facility(id=facility_id, slug=slug),
        context=cast(Any, None),
        plugins=cast(Any, None),
    )


def _request(cookie: MyPageSession | None = None) -> Any:
    headers = {}
    if cookie is not None:
        headers["Cookie"] = f"{SESSION_COOKIE}={session_cookie_value(SIGNER, cookie)}"
    return RequestFactory().get("/shop/park/my/password", headers=headers)


async def test_a_valid_session_cookie_is_the_visitor() -> None:
    me = await provide_me(_request(MyPageSession(1, 42)), _shop(), DB, SIGNER)
    assert me == MyPageSession(1, 42)


async def test_a_session_ended_since_sends_to_the_login() -> None:
    ended: Any = _Customers(version=1)  # a logout or a password change bumped it
    with pytest.raises(MyPageLoginRequired):
        await provide_me(_request(MyPageSession(1, 42, version=0)), _shop(), ended, SIGNER)
    gone: Any = _Customers(version=None)
    assert await provide_visitor(_request(MyPageSession(1, 42)), _shop(), gone, SIGNER) is None


async def test_without_a_session_cookie_the_page_sends_to_the_login() -> None:
    with pytest.raises(MyPageLoginRequired) as raised:
        await provide_me(_request(), _shop(), DB, SIGNER)
    assert raised.value.login_url == "/shop/park/my"


async def test_a_session_of_another_facility_sends_to_the_login() -> None:
    with pytest.raises(MyPageLoginRequired):
        await provide_me(_request(MyPageSession(2, 42)), _shop(facility_id=1), DB, SIGNER)


async def test_a_cookie_signed_with_another_key_sends_to_the_login() -> None:
    forged = Signer("someone-elses-secret")
    value = session_cookie_value(forged, MyPageSession(1, 42))
    request = RequestFactory().get("/", headers={"Cookie": f"{SESSION_COOKIE}={value}"})
    with pytest.raises(MyPageLoginRequired):
        await provide_me(request, _shop(), DB, SIGNER)


async def test_my_page_itself_gets_no_visitor_without_a_session() -> None:
    assert await provide_visitor(_request(), _shop(), DB, SIGNER) is None


def test_the_login_redirect_sends_the_visitor_to_my_page_with_a_303() -> None:
    response = redirect_to_login(_request(), MyPageLoginRequired("/shop/park/my"))
    assert response.status_code == 303
    assert response.url == "/shop/park/my"

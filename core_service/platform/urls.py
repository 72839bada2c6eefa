"""Absolute and relative URLs of visitor pages, and the signed My Page magic links.

Kept in one place because e-mail (built outside a request) and pages must agree on them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from core_service.platform.security import Signer

#: Signer purpose of a magic link the visitor asked for on the My Page form.
MAGIC_LINK_PURPOSE = "mypage"
MAGIC_LINK_MAX_AGE = 24 * 3600
#: Signer purpose of the link in an order confirmation: it is read days later, so it lives
#: longer; it only opens the order history of the address it was sent to.
ORDER_MAIL_LINK_PURPOSE = "mypage-order-mail"
ORDER_MAIL_LINK_MAX_AGE = 30 * 24 * 3600


def shop_path(slug: str) -> str:
    return f"/shop/{quote(slug)}/"


def product_path(slug: str, code: str) -> str:
    return f"/shop/{quote(slug)}/products/{quote(code)}"


def order_path(slug: str, code: str, access_key: str, **extra: str) -> str:
    return f"/shop/{quote(slug)}/orders/{quote(code)}?{urlencode({'key': access_key, **extra})}"


def mypage_path(slug: str) -> str:
    return f"/shop/{quote(slug)}/my"


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def magic_link_token(signer: Signer, facility_id: int, email: str, *, purpose: str) -> str:
    return signer.dumps(purpose, {"f": facility_id, "e": email.strip().lower()})


def magic_link_path(
    signer: Signer,
    slug: str,
    facility_id: int,
    email: str,
    *,
    purpose: str = MAGIC_LINK_PURPOSE,
    locale: str = "ja",
) -> str:
    token = magic_link_token(signer, facility_id, email, purpose=purpose)
    return f"/shop/{quote(slug)}/my/login?{urlencode({'token': token, 'lang': locale})}"


def read_magic_link(signer: Signer, token: str) -> dict[str, Any] | None:
    """The signed {"f": facility_id, "e": email} of a magic link, or None if invalid."""
    for purpose, max_age in (
        (MAGIC_LINK_PURPOSE, MAGIC_LINK_MAX_AGE),
        (ORDER_MAIL_LINK_PURPOSE, ORDER_MAIL_LINK_MAX_AGE),
    ):
        data = signer.loads(purpose, token, max_age)
        if isinstance(data, dict) and "f" in data and "e" in data:
            return data
    return None

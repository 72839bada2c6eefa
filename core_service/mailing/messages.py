"""The visitor e-mails of the core, in the order's language, as text and HTML.

Bodies are Jinja templates under ``core_service/mailing/templates/mail/`` rendered with the
same translations and filters as the visitor pages (:mod:`core_service.platform.templating`),
so a wording fix applies to page and mail alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core_service.models import Facility, Order
from core_service.platform.i18n import gettext, normalise_locale
from core_service.platform.templating import build_environment, render_string

ENVIRONMENT = build_environment(Path(__file__).parent / "templates")


@dataclass(frozen=True, slots=True)
class MailContent:
    subject: str
    text: str
    html: str


def order_confirmation(
    facility: Facility, order: Order, *, ticket_url: str, mypage_url: str
) -> MailContent:
    """Confirmation of a paid order, with the ticket page and a My Page magic link."""
    locale = normalise_locale(order.locale)
    context = {
        "facility_name": facility.name(locale),
        "order": order,
        "lines": order.lines,
        "ticket_count": len(order.tickets),
        "ticket_url": ticket_url,
        "mypage_url": mypage_url,
        "contact_email": facility.contact_email,
    }
    subject = gettext(locale, "[%(facility)s] Your tickets (order %(code)s)") % {
        "facility": facility.name(locale),
        "code": order.code,
    }
    return MailContent(
        subject=subject,
        text=render_string(ENVIRONMENT, "mail/order_confirmation.txt", locale, **context),
        html=render_string(ENVIRONMENT, "mail/order_confirmation.html", locale, **context),
    )


def mypage_link(facility: Facility, *, locale: str, login_url: str) -> MailContent:
    """The magic link a visitor asked for on the My Page form."""
    locale = normalise_locale(locale)
    context = {"facility_name": facility.name(locale), "login_url": login_url}
    subject = gettext(locale, "[%(facility)s] Your My Page link") % {
        "facility": facility.name(locale)
    }
    return MailContent(
        subject=subject,
        text=render_string(ENVIRONMENT, "mail/mypage_link.txt", locale, **context),
        html=render_string(ENVIRONMENT, "mail/mypage_link.html", locale, **context),
    )

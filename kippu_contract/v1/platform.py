"""The platform operator's API (``/api/v1/platform/...``): logging in, creating facilities
with their first owner, listing facilities. Deployment-level: an operator belongs to no
facility, and these shapes carry no tenant's business data beyond its name and contact.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class OperatorLoginIn(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


class OperatorLoginOut(msgspec.Struct):
    token: str
    email: str


class PlatformFacilityIn(msgspec.Struct, forbid_unknown_fields=True):
    #: Lower-case letters, digits and hyphens; in the shop's and the login's URLs.
    slug: str
    name_ja: str
    name_en: str
    contact_email: str
    owner_email: str
    timezone: str = "Asia/Tokyo"
    #: "T" and 13 digits with a valid check digit, or "" (plain receipts).
    tax_registration_number: str = ""
    #: The first owner's initial password; omitted: a one-time password is made and
    #: answered once (``NewFacilityOut.owner_password``), for the owner to change.
    owner_password: str | None = None


class PlatformFacilityOut(msgspec.Struct):
    id: int
    slug: str
    name_ja: str
    name_en: str
    timezone: str
    contact_email: str
    tax_registration_number: str
    created_at: dt.datetime
    #: E-mail addresses of the facility's active owners.
    owners: list[str]


class NewFacilityOut(msgspec.Struct):
    facility: PlatformFacilityOut
    owner_email: str
    #: Only when the core made the password (none was given): shown this once.
    owner_password: str = ""

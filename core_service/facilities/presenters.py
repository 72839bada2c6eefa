"""A facility as the APIs show it (login answers, kiosk catalogs and orders)."""

from __future__ import annotations

from core_service.models import Facility
from kippu_contract.v1.common import FacilityOut


def facility_out(facility: Facility) -> FacilityOut:
    return FacilityOut(
        id=facility.id,
        slug=facility.slug,
        name_ja=facility.name_ja,
        name_en=facility.name_en,
        tax_registration_number=facility.tax_registration_number,
    )

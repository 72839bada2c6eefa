"""Vouchers for tests, written straight into the database (the API is tested apart)."""

from __future__ import annotations

from core_service.models import Voucher
from core_service.platform.database import make_engine, make_sessionmaker
from core_service.platform.settings import Settings


async def add_voucher(settings: Settings, facility_id: int, **fields: object) -> int:
    """A voucher (by default SPRING, 15% off every product, no limit); its id."""
    engine = make_engine(settings)
    async with make_sessionmaker(engine)() as session:
        voucher = Voucher(
            facility_id=facility_id,
            **{"code": "SPRING", "kind": "percent", "value": 15, "max_uses": None, **fields},
        )
        session.add(voucher)
        await session.commit()
        voucher_id = voucher.id
    await engine.dispose()
    return voucher_id

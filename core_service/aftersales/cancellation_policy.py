"""A facility's cancellation policy (F6, F7) and the refund it allows for each ticket.

The policy lives in ``Facility.settings["cancellation"]``::

    {
      "self_cancel": true,              # visitors may cancel from My Page
      "self_cancel_until_days": 1,      # ... until this many days before the visit date
      "fees": [                         # fee tiers by days before the visit date
        {"days_before": 7, "percent": 0},
        {"days_before": 2, "percent": 20},
        {"days_before": 0, "fixed": 500}
      ]
    }

The tier that applies is the first (largest ``days_before``) that the cancellation is
still at or before; after the visit date no tier applies and the whole base price is the
fee. Without tiers there is no fee up to and including the visit date. A fee is charged
per ticket on its base price and never exceeds it.

Refund rule (F7): the refund of a ticket is its base price minus the policy's fee, never
an amount someone typed. The handling fee (外手数料) is never refunded: 2,000 yen without a
handling fee refunded as 1,800 is refused; 1,800 + 200 handling fee refunded as 1,800 is
what the rule gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core_service.platform.errors import InvalidInput

#: Bounds of what a manager may set (checked before a policy is stored).
MAX_TIERS = 10
MAX_DAYS_BEFORE = 366
MAX_FIXED_FEE = 1_000_000


@dataclass(frozen=True, slots=True)
class FeeTier:
    days_before: int
    percent: int = 0
    fixed: int = 0

    def fee(self, base: int) -> int:
        # Percent fees round down, in the visitor's favour.
        return min(base, self.fixed + base * self.percent // 100)


@dataclass(frozen=True, slots=True)
class CancellationPolicy:
    self_cancel: bool = False
    self_cancel_until_days: int = 1
    tiers: tuple[FeeTier, ...] = ()

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> CancellationPolicy:
        raw = settings.get("cancellation") or {}
        if not isinstance(raw, dict):
            raise InvalidInput("cancellation settings must be an object")
        tiers = []
        for item in raw.get("fees") or []:
            tier = FeeTier(
                days_before=int(item.get("days_before", 0)),
                percent=int(item.get("percent", 0)),
                fixed=int(item.get("fixed", 0)),
            )
            if not 0 <= tier.percent <= 100 or tier.fixed < 0 or tier.days_before < 0:
                raise InvalidInput(f"invalid cancellation fee tier {item!r}")
            tiers.append(tier)
        return cls(
            self_cancel=bool(raw.get("self_cancel", False)),
            self_cancel_until_days=int(raw.get("self_cancel_until_days", 1)),
            tiers=tuple(sorted(tiers, key=lambda t: t.days_before, reverse=True)),
        )

    def fee(self, base: int, days_before: int) -> int:
        """The fee for cancelling a ticket of ``base`` yen ``days_before`` the visit."""
        if days_before < 0:
            return base  # the day has passed: nothing to refund
        for tier in self.tiers:
            if days_before >= tier.days_before:
                return tier.fee(base)
        return base if self.tiers else 0

    def visitor_may_cancel(self, days_before: int) -> bool:
        return self.self_cancel and days_before >= self.self_cancel_until_days


def checked_tiers(tiers: list[dict[str, int]]) -> list[dict[str, int]]:
    """``tiers`` as stored (largest ``days_before`` first), or 422 naming the bad tier."""
    if len(tiers) > MAX_TIERS:
        raise InvalidInput(
            f"At most {MAX_TIERS} fee tiers.",
            f"キャンセル料の段階は{MAX_TIERS}個までです。",
            field="cancellation_fees",
        )
    seen: set[int] = set()
    for index, tier in enumerate(tiers):
        days, percent, fixed = tier["days_before"], tier["percent"], tier["fixed"]
        if not (
            0 <= days <= MAX_DAYS_BEFORE and 0 <= percent <= 100 and 0 <= fixed <= MAX_FIXED_FEE
        ):
            raise InvalidInput(
                f"Fee tier {index + 1}: days before 0-{MAX_DAYS_BEFORE}, percent 0-100, "
                f"fixed 0-{MAX_FIXED_FEE:,} yen.",
                f"キャンセル料の{index + 1}段目: 日数は0〜{MAX_DAYS_BEFORE}、割合は0〜100%、"
                f"定額は0〜{MAX_FIXED_FEE:,}円で入力してください。",
                field="cancellation_fees",
                index=index,
            )
        if days in seen:
            raise InvalidInput(
                f"Fee tier {index + 1}: two tiers start {days} days before.",
                f"キャンセル料の{index + 1}段目: 同じ日数（{days}日前）の段階が2つあります。",
                field="cancellation_fees",
                index=index,
            )
        seen.add(days)
    return sorted(tiers, key=lambda t: t["days_before"], reverse=True)


def refund_for(base: int, fee: int) -> int:
    """The one refund the rules allow for a ticket; the handling fee is kept apart."""
    return max(base - fee, 0)

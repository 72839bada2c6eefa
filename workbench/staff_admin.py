"""Staff accounts state: the facility's members, adding one, changing one, a password reset.

A ``param.Parameterized`` without Panel, over ``/api/v1/staff`` (owners and managers;
the core decides who may manage whom and refuses the rest with a reason, which becomes
the message). A one-time password the core made is kept in ``one_time_password`` for
the page to show once; any other action clears it.
"""

from __future__ import annotations

import pandas as pd
import param

from kippu_contract.roles import ROLES
from kippu_contract.v1.staff import StaffMemberChangeIn, StaffMemberIn, StaffMemberOut
from workbench.core_client import CoreAPI, CoreRefused, CoreUnavailable
from workbench.data_access import DEFAULT_TIMEZONE
from workbench.moments import local_time

STAFF_COLUMNS = ["id", "email", "display_name", "role", "active", "created_at"]


class StaffAdminState(param.Parameterized):
    #: The facility\'s time zone, for the times shown.
    timezone = param.String(default=DEFAULT_TIMEZONE)
    members = param.List(default=[], constant=True, doc="StaffMemberOut, as the core sent them.")
    # The new member's form.
    new_email = param.String(default="")
    new_display_name = param.String(default="")
    new_role = param.Selector(default="staff", objects=list(ROLES))
    # The change form, for the member chosen.
    member_id = param.Integer(default=None, allow_None=True)
    role = param.Selector(default="staff", objects=list(ROLES))
    display_name = param.String(default="")
    active = param.Boolean(default=True)
    one_time_password = param.String(default="", constant=True)
    message = param.String(default="", constant=True)

    def __init__(self, core: CoreAPI, **params: object) -> None:
        self._core = core
        super().__init__(**params)
        self.load()

    def load(self) -> bool:
        try:
            members = self._core.staff_members()
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        with param.edit_constant(self):
            self.members = members
        return True

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    **{c: getattr(m, c) for c in STAFF_COLUMNS},
                    "created_at": local_time(m.created_at, self.timezone),
                }
                for m in self.members
            ],
            columns=STAFF_COLUMNS,
        )

    def choices(self) -> dict[str, int]:
        return {f"{m.email} ({m.role})": m.id for m in self.members}

    @param.depends("member_id", watch=True)
    def _fill_change_form(self) -> None:
        member = self._member(self.member_id)
        if member is not None:
            self.param.update(
                role=member.role, display_name=member.display_name, active=member.active
            )

    def _member(self, member_id: int | None) -> StaffMemberOut | None:
        return next((m for m in self.members if m.id == member_id), None)

    def add(self) -> bool:
        """Add the member of the form; the core makes the password, shown once."""
        member = StaffMemberIn(
            email=self.new_email.strip(),
            role=self.new_role,
            display_name=self.new_display_name.strip(),
        )
        try:
            made = self._core.add_staff_member(member)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.param.update(new_email="", new_display_name="")
        self.load()
        self._say(made.member.email, password=made.one_time_password)
        return True

    def save(self) -> bool:
        """Save the change form for the chosen member (only what differs is sent)."""
        member = self._member(self.member_id)
        if member is None:
            self._say("choose a staff member")
            return False
        change = StaffMemberChangeIn(
            role=self.role if self.role != member.role else None,
            display_name=self.display_name if self.display_name != member.display_name else None,
            active=self.active if self.active != member.active else None,
        )
        try:
            self._core.change_staff_member(member.id, change)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self.load()
        self._say("saved")
        return True

    def reset_password(self) -> bool:
        if self.member_id is None:
            self._say("choose a staff member")
            return False
        try:
            reset = self._core.reset_staff_password(self.member_id)
        except (CoreRefused, CoreUnavailable) as exc:
            self._say(str(exc))
            return False
        self._say(reset.member.email, password=reset.one_time_password)
        return True

    def _say(self, text: str, *, password: str = "") -> None:
        with param.edit_constant(self):
            self.param.update(message=text, one_time_password=password)

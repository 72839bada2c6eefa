"""Managing a facility's staff accounts: list, create, change, reset a password.

Who may manage whom (the guards admit managers and owners; the rules of the target are
here, because they depend on the row):

- an owner manages everyone and may give any role;
- a manager manages staff and viewers only, and never gives the manager or owner role;
- the last active owner of a facility can be neither demoted nor deactivated, so a
  facility is never left without someone who can manage it.

Deactivating a member, changing their role or resetting their password bumps their
``token_version``: every token they hold stops working at once. Each change writes an
audit row (never a password).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.accounts import login_throttle
from core_service.accounts.service import check_new_password, create_staff, one_time_password
from core_service.models import Facility, StaffUser
from core_service.platform import audit
from core_service.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from core_service.platform.principals import StaffPrincipal
from core_service.platform.security import hash_password_in_thread
from kippu_contract.roles import ROLES, role_at_least
from kippu_contract.v1.staff import (
    StaffMemberChangeIn,
    StaffMemberIn,
    StaffMemberOut,
    StaffPasswordOut,
)

#: The roles a manager may manage and give.
MANAGER_MANAGES = ("staff", "viewer")


def member_out(staff: StaffUser) -> StaffMemberOut:
    return StaffMemberOut(
        id=staff.id,
        email=staff.email,
        display_name=staff.display_name,
        role=staff.role,
        active=staff.active,
        created_at=staff.created_at,
    )


def _may_manage(actor: StaffPrincipal, role: str) -> bool:
    return actor.role == "owner" or (
        role_at_least(actor.role, "manager") and role in MANAGER_MANAGES
    )


def _refuse_role(role: str) -> Forbidden:
    return Forbidden(
        f"Managers manage staff and viewers only, not a {role}.",
        "マネージャーが管理できるのはスタッフと閲覧者のみです。",
        field="role",
    )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(
            f"Role must be one of {', '.join(ROLES)}.",
            f"役割は {', '.join(ROLES)} のいずれかです。",
            field="role",
        )


async def list_staff(session: AsyncSession, facility_id: int) -> list[StaffMemberOut]:
    rows = await session.scalars(
        sa.select(StaffUser).where(StaffUser.facility_id == facility_id).order_by(StaffUser.id)
    )
    return [member_out(s) for s in rows]


async def add_member(
    session: AsyncSession, actor: StaffPrincipal, data: StaffMemberIn
) -> StaffPasswordOut:
    """A new member; a one-time password is made (and answered once) unless one is given."""
    _check_role(data.role)
    if not _may_manage(actor, data.role):
        raise _refuse_role(data.role)
    made = data.password is None
    password = one_time_password() if data.password is None else data.password
    check_new_password(password)
    staff = await create_staff(
        session,
        actor.facility_id,
        data.email,
        await hash_password_in_thread(password),
        data.role,
        display_name=data.display_name.strip(),
    )
    audit.record(
        session,
        actor.facility_id,
        actor.email,
        "staff.create",
        subject=staff.email,
        data={"after": {"role": staff.role, "display_name": staff.display_name}},
    )
    await session.commit()
    return StaffPasswordOut(member=member_out(staff), one_time_password=password if made else "")


async def _target(session: AsyncSession, actor: StaffPrincipal, staff_id: int) -> StaffUser:
    """The member of the actor's facility the actor may manage (404 for another's)."""
    staff = await session.scalar(
        sa.select(StaffUser)
        .where(StaffUser.id == staff_id, StaffUser.facility_id == actor.facility_id)
        .with_for_update()
    )
    if staff is None:
        raise NotFound("No such staff member.", "スタッフが見つかりません。")
    if not _may_manage(actor, staff.role):
        raise _refuse_role(staff.role)
    return staff


async def _other_active_owners(session: AsyncSession, staff: StaffUser) -> int:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(StaffUser)
        .where(
            StaffUser.facility_id == staff.facility_id,
            StaffUser.role == "owner",
            StaffUser.active.is_(True),
            StaffUser.id != staff.id,
        )
    )
    return int(count or 0)


async def change_member(
    session: AsyncSession, actor: StaffPrincipal, staff_id: int, change: StaffMemberChangeIn
) -> StaffMemberOut:
    """Change role, display name or active; a role change or deactivation ends the
    member's tokens."""
    staff = await _target(session, actor, staff_id)
    before = {"role": staff.role, "display_name": staff.display_name, "active": staff.active}
    role = staff.role if change.role is None else change.role
    active = staff.active if change.active is None else change.active
    _check_role(role)
    if not _may_manage(actor, role):
        raise _refuse_role(role)
    stays_owner = role == "owner" and active
    was_owner = staff.role == "owner" and staff.active
    if was_owner and not stays_owner and await _other_active_owners(session, staff) == 0:
        raise Conflict(
            "The last active owner can be neither demoted nor deactivated; "
            "make someone else owner first.",
            "有効なオーナーが1人だけのため、役割の変更や無効化はできません。"
            "先に別の人をオーナーにしてください。",
            field="role" if role != "owner" else "active",
        )
    if role != staff.role or active != staff.active:
        staff.token_version += 1  # their tokens end: the new role or state holds at once
    staff.role = role
    staff.active = active
    if change.display_name is not None:
        staff.display_name = change.display_name.strip()
    after = {"role": staff.role, "display_name": staff.display_name, "active": staff.active}
    if after != before:
        audit.record(
            session,
            actor.facility_id,
            actor.email,
            "staff.update",
            subject=staff.email,
            data={"before": before, "after": after},
        )
    await session.commit()
    return member_out(staff)


async def reset_password(
    session: AsyncSession, actor: StaffPrincipal, staff_id: int
) -> StaffPasswordOut:
    """A new one-time password for the member (shown once); their tokens end."""
    staff = await _target(session, actor, staff_id)
    password = one_time_password()
    staff.password_hash = await hash_password_in_thread(password)
    staff.token_version += 1
    facility = await session.get(Facility, staff.facility_id)
    if facility is not None:  # failures against the old password no longer pause the login
        key = login_throttle.login_key("staff", facility.slug, staff.email)
        await login_throttle.forget_login(session, key)
    audit.record(
        session, actor.facility_id, actor.email, "staff.password_reset", subject=staff.email
    )
    await session.commit()
    return StaffPasswordOut(member=member_out(staff), one_time_password=password)

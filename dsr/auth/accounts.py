"""Staff accounts: creation with a one-time password, password login without enumeration, TOTP
enrolment and single-use codes, and the changes that end every session of an account.

Every session of a user carries `StaffUser.session_version` (see `StaffUser.get_id`); bumping it
here (logout, password change, MFA reset, disable, role change) makes every cookie issued before
worthless, server-side, whatever the browser kept.
"""

from __future__ import annotations

import re
import secrets

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.auth import totp
from dsr.auth.passwords import check_new_password, dummy_hash, hash_password, needs_rehash, verify_password
from dsr.crypto import seal, unseal
from dsr.db import utcnow
from dsr.models import StaffRole, StaffUser

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """A staff-management request that cannot be carried out; the message says why."""


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_by_email(session: orm.Session, email: str) -> StaffUser | None:
    return session.scalar(sa.select(StaffUser).where(StaffUser.email == normalise_email(email)))


def one_time_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits; must be changed at first login


def create_staff(
    session: orm.Session,
    *,
    email: str,
    role: StaffRole,
    display_name: str = "",
    actor_type: str = "staff",
    actor_id: int | str | None = None,
) -> tuple[StaffUser, str]:
    """A new account with a one-time password (returned once, never stored in clear)."""
    email = normalise_email(email)
    if not _EMAIL.match(email) or len(email) > 254:
        raise AccountError(_("Enter a valid e-mail address, like name@example.com."))
    if find_by_email(session, email) is not None:
        raise AccountError(_("A staff account with this e-mail address already exists."))
    password = one_time_password()
    user = StaffUser(
        email=email,
        display_name=(display_name or "").strip()[:120] or email.split("@")[0],
        role=StaffRole(role),
        password_hash=hash_password(password),
        must_change_password=True,
    )
    session.add(user)
    session.flush()
    record(
        session,
        "staff.created",
        actor_type=actor_type,
        actor_id=actor_id,
        staff_id=user.id,
        role=user.role.value,
    )
    return user, password


def authenticate(session: orm.Session, email: str, password: str) -> StaffUser | None:
    """The account, if the password is right and the account active; None otherwise.

    Unknown addresses cost one Argon2 verification too, and every refusal looks the same to the
    caller, so the login page cannot be used to learn who has an account.
    """
    user = find_by_email(session, email)
    ok = verify_password(user.password_hash if user else dummy_hash(), password or "")
    if user is None or not ok or not user.active:
        record(
            session,
            "staff.login_failed",
            actor_type="staff",
            actor_id=user.id if user else None,
            reason="password" if user is None or not ok else "disabled",
        )
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def use_totp_code(session: orm.Session, user: StaffUser, code: str) -> bool:
    """Accept `code` once: the step is stored with a conditional UPDATE, so two requests racing
    with the same code cannot both succeed."""
    if not user.totp_secret_sealed:
        return False
    step = totp.matching_step(unseal(user.totp_secret_sealed), code, after_step=user.totp_last_step)
    if step is None:
        record(session, "staff.mfa_failed", actor_type="staff", actor_id=user.id)
        return False
    claimed = session.execute(
        sa.update(StaffUser)
        .where(
            StaffUser.id == user.id,
            sa.or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return False
    user.totp_last_step = step
    return True


def enrolment_secret(session: orm.Session, user: StaffUser) -> str:
    """The secret being enrolled (made on the first visit, kept until confirmed)."""
    if user.totp_enrolled_at is not None:
        raise AccountError(_("Two-step verification is already set up for this account."))
    if not user.totp_secret_sealed:
        user.totp_secret_sealed = seal(totp.new_secret())
        session.flush()
    return unseal(user.totp_secret_sealed)


def confirm_enrolment(session: orm.Session, user: StaffUser, code: str) -> bool:
    if user.totp_enrolled_at is not None or not use_totp_code(session, user, code):
        return False
    user.totp_enrolled_at = utcnow()
    record(session, "staff.mfa_enrolled", actor_type="staff", actor_id=user.id)
    return True


def login_completed(session: orm.Session, user: StaffUser) -> None:
    user.last_login_at = utcnow()
    record(session, "staff.login", actor_type="staff", actor_id=user.id)


def reauthenticated(session: orm.Session, user: StaffUser) -> None:
    record(session, "staff.reauthenticated", actor_type="staff", actor_id=user.id)


def set_language(session: orm.Session, user: StaffUser, language: str) -> None:
    user.language = language
    record(session, "staff.language_changed", actor_type="staff", actor_id=user.id, language=language)


def end_sessions(user: StaffUser) -> None:
    user.session_version += 1


def logout(session: orm.Session, user: StaffUser) -> None:
    end_sessions(user)
    record(session, "staff.logout", actor_type="staff", actor_id=user.id)


def change_password(
    session: orm.Session, user: StaffUser, new_password: str, *, current_password: str | None = None
) -> None:
    """Set a new password (the current one is asked for unless this is the forced first change).
    Raises PasswordRejected / AccountError with a message for the form."""
    if current_password is not None and not verify_password(user.password_hash, current_password):
        raise AccountError(_("Your current password is not right."))
    check_new_password(new_password, email=user.email)
    if verify_password(user.password_hash, new_password):
        raise AccountError(_("Choose a password different from the one you have now."))
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    end_sessions(user)
    record(session, "staff.password_changed", actor_type="staff", actor_id=user.id)


# --- administration (admins only; the views check the role and a fresh login) ---------------------


def _active_admins(session: orm.Session) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(StaffUser)
            .where(StaffUser.role == StaffRole.ADMIN, StaffUser.active.is_(True))
        )
        or 0
    )


def _would_remove_last_admin(session: orm.Session, user: StaffUser) -> bool:
    return user.role is StaffRole.ADMIN and user.active and _active_admins(session) <= 1


def set_role(session: orm.Session, actor: StaffUser, user: StaffUser, role: StaffRole) -> None:
    role = StaffRole(role)
    if role is user.role:
        return
    if role is not StaffRole.ADMIN and _would_remove_last_admin(session, user):
        raise AccountError(_("This is the only active admin; make someone else admin first."))
    old = user.role
    user.role = role
    end_sessions(user)
    record(
        session,
        "staff.role_changed",
        actor_type="staff",
        actor_id=actor.id,
        staff_id=user.id,
        old=old.value,
        new=role.value,
    )


def disable(session: orm.Session, actor: StaffUser, user: StaffUser) -> None:
    if user.id == actor.id:
        raise AccountError(_("You cannot disable your own account."))
    if _would_remove_last_admin(session, user):
        raise AccountError(_("This is the only active admin; make someone else admin first."))
    user.active = False
    end_sessions(user)
    record(session, "staff.disabled", actor_type="staff", actor_id=actor.id, staff_id=user.id)


def enable(session: orm.Session, actor: StaffUser, user: StaffUser) -> None:
    user.active = True
    record(session, "staff.enabled", actor_type="staff", actor_id=actor.id, staff_id=user.id)


def reset_mfa(session: orm.Session, actor: StaffUser, user: StaffUser) -> None:
    """The user enrols a new authenticator at their next login."""
    user.totp_secret_sealed = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    end_sessions(user)
    record(session, "staff.mfa_reset", actor_type="staff", actor_id=actor.id, staff_id=user.id)


def reset_password(session: orm.Session, actor: StaffUser, user: StaffUser) -> str:
    """A new one-time password (returned once) that must be changed at the next login."""
    password = one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    end_sessions(user)
    record(session, "staff.password_reset", actor_type="staff", actor_id=actor.id, staff_id=user.id)
    return password


def issuer_name() -> str:
    return f"{current_app.extensions['dsr.controller'].name} privacy staff"

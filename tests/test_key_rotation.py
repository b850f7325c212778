"""Rotating the keys (issue 16, README "Rotating the keys"): the old key goes to a fallback list, so
nobody is logged out, no bundle or TOTP seed is lost and the audit chain still verifies — and what
happens without the fallback."""
from __future__ import annotations

import base64
import secrets

import pytest
import sqlalchemy as sa

from dsr import create_app
from dsr.audit.service import record
from dsr.bundle.sealed import SealedFileError, SealedWriter, master_key
from dsr.db import get_db
from dsr.export import storage
from dsr.models import StaffUser
from tests.helpers.staff import enrolled_staff, login


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def apps(app_config):
    """create_app(**changes) on the same database and instance folder; disposed at the end."""
    made = []

    def make(**changes):
        application = create_app({**app_config, **changes})
        made.append(application)
        return application

    yield make
    for application in made:
        get_db(application).dispose()


def test_a_new_secret_key_with_the_old_one_as_fallback_logs_nobody_out(app, session, apps):
    staff, secret = enrolled_staff(session, app)
    before = app.test_client()
    login(before, staff, secret)
    cookie = before.get_cookie(app.config["STAFF_SESSION_COOKIE_NAME"]).value
    assert before.get("/staff/").status_code == 200

    rotated = apps(SECRET_KEY=secrets.token_urlsafe(48), SECRET_KEY_FALLBACKS=[app.config["SECRET_KEY"]])
    after = rotated.test_client()
    after.set_cookie(app.config["STAFF_SESSION_COOKIE_NAME"], cookie)
    assert after.get("/staff/").status_code == 200  # still logged in after the restart with the new key

    without = apps(SECRET_KEY=rotated.config["SECRET_KEY"]).test_client()
    without.set_cookie(app.config["STAFF_SESSION_COOKIE_NAME"], cookie)
    assert without.get("/staff/").status_code == 302  # no fallback: everyone logs in again


def test_a_new_encryption_key_loses_no_bundle_nor_totp_seed(app, session, apps):
    staff, secret = enrolled_staff(session, app)
    old_seal = staff.totp_secret_sealed
    with app.app_context():
        with storage.get_store(app).writer("bundles/bundle-1-old.zip.sealed") as raw, \
                SealedWriter(raw, storage.sealing_key(app), "bundle") as sealed:
            sealed.write(b"PK a bundle sealed before the rotation")

    rotated = apps(ENCRYPTION_KEY=_key(), ENCRYPTION_KEY_FALLBACKS=[app.config["ENCRYPTION_KEY"]])
    with rotated.app_context():
        assert b"".join(storage.open_sealed("bundles/bundle-1-old.zip.sealed", "bundle")) == (
            b"PK a bundle sealed before the rotation")
    login(rotated.test_client(), staff, secret)  # the TOTP seed opens with the fallback
    with rotated.app_context():  # (the CLI runs in the app context already pushed, if any)
        result = rotated.test_cli_runner().invoke(args=["dsr", "reseal"])
    assert result.exit_code == 0 and "totp_seeds=1" in result.output, result.output
    session.expire_all()
    assert session.get(StaffUser, staff.id).totp_secret_sealed != old_seal

    only_new = apps(ENCRYPTION_KEY=rotated.config["ENCRYPTION_KEY"])
    login(only_new.test_client(), staff, secret)  # re-sealed: the old key is no longer needed for it
    with only_new.app_context(), pytest.raises(SealedFileError):
        # ... but files sealed with it are: keep it listed until the last such bundle has expired
        b"".join(storage.open_sealed("bundles/bundle-1-old.zip.sealed", "bundle"))
    assert master_key(only_new.config["ENCRYPTION_KEY"]) not in storage.opening_keys(app)


def _append(application, action: str) -> None:
    with application.app_context(), get_db(application).session() as db:
        record(db, action, actor_type="system")
        db.commit()


def _verify(application) -> str:
    with application.app_context():
        return application.test_cli_runner().invoke(args=["dsr", "audit-verify"]).output.strip()


def test_a_new_audit_key_with_the_old_one_as_fallback_keeps_the_chain_verifiable(app, session, apps):
    _append(app, "test.before_rotation")
    _append(app, "test.before_rotation")
    rotated = apps(AUDIT_KEY=_key(), AUDIT_KEY_FALLBACKS=[app.config["AUDIT_KEY"]])
    _append(rotated, "test.after_rotation")
    assert _verify(rotated) == "OK 3"
    assert _verify(apps(AUDIT_KEY=rotated.config["AUDIT_KEY"])).startswith("BAD 1")  # the old rows need it

    # Whoever holds only the old key cannot add to the chain after the rotation unnoticed.
    _append(app, "test.forged_with_the_old_key")
    assert _verify(rotated).startswith("BAD 4")
    assert session.scalar(sa.select(sa.func.count()).select_from(sa.table("audit_events"))) == 4

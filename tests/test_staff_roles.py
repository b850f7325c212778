"""Deny by default (S14), the role matrix over every staff endpoint (S15), masking for viewers (S17)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dsr.auth.roles import roles_of
from dsr.models import (
    AuditEvent,
    CaseFee,
    DeliveryStatus,
    FeeGround,
    Message,
    MessageDirection,
    NoticeState,
    RecipientNotice,
    RequestStatus,
    StaffRole,
    StaffUser,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
)
from tests.helpers.staff import enrolled_staff, login

A, OF, V = StaffRole.ADMIN, StaffRole.OFFICER, StaffRole.VIEWER
READ, DECIDE, ADMIN = {A, OF, V}, {A, OF}, {A}

#: The reviewed matrix. A new staff endpoint fails the first test until it is added here.
EXPECTED = {
    "auth.reauthenticate": READ,
    "auth.change_password": READ,
    "auth.language": READ,
    "cases.queue": READ,
    "cases.dashboard": READ,
    "cases.detail": READ,
    "cases.export_register": READ,
    "intake.register": DECIDE,
    "cases.approve": DECIDE,
    "cases.reject": DECIDE,
    "cases.ask": DECIDE,
    "cases.extend": DECIDE,
    "cases.complete": DECIDE,
    "cases.withdraw": DECIDE,
    "cases.message": DECIDE,
    "cases.reply": DECIDE,
    "cases.identity": DECIDE,
    "cases.assign": DECIDE,
    "cases.add_note": DECIDE,
    "cases.retry_task": DECIDE,
    "cases.resend_message": DECIDE,
    "cases.end_subject_access": DECIDE,
    "cases.print_letter": DECIDE,
    "cases.letter_posted": DECIDE,
    "export.hand_over": DECIDE,
    "representation.page": DECIDE,
    "representation.download": DECIDE,
    "representation.accept": DECIDE,
    "representation.reject": DECIDE,
    "representation.attach": DECIDE,
    "export.manual_task": DECIDE,
    "export.preview": DECIDE,
    "export.release": DECIDE,
    "export.partial": DECIDE,
    "export.retry_assembly": DECIDE,
    "export.no_data": DECIDE,
    "export.answer": DECIDE,
    "export.redact": DECIDE,
    "export.unredact": DECIDE,
    "export.send": DECIDE,
    "cases.correspondence": DECIDE,
    "fees.charge": DECIDE,
    "fees.paid": DECIDE,
    "fees.waive": DECIDE,
    "actions.approve": DECIDE,
    "actions.done_by_hand": DECIDE,
    "actions.notice_done": DECIDE,
    "actions.lift": DECIDE,
    "actions.objection": DECIDE,
    "staff.users": ADMIN,
    "staff.create": ADMIN,
    "staff.set_role": ADMIN,
    "staff.disable": ADMIN,
    "staff.enable": ADMIN,
    "staff.reset_mfa": ADMIN,
    "staff.reset_password": ADMIN,
}


def test_every_staff_endpoint_has_the_reviewed_roles(app):
    declared = {
        rule.endpoint: roles_of(app, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if roles_of(app, rule.endpoint) is not None
    }
    assert declared == EXPECTED


@pytest.fixture
def world(app, session, make_request):
    """A case with a failed task and a failed letter, a target account, and one logged-in client per role."""
    case = make_request(
        status=RequestStatus.OPEN, email="canary@example.org", phone="+4791234567", full_name="Kari Canary"
    )
    task = SystemTask(request_id=case.id, system_key="crm", action=TaskAction.EXPORT, state=TaskState.FAILED)
    letter = Message(
        request_id=case.id,
        direction=MessageDirection.TO_SUBJECT,
        channel="email",
        to_address="canary@example.org",
        body_text="Dear Kari Canary",
        status=DeliveryStatus.FAILED,
    )
    session.add_all([task, letter])
    session.commit()
    notice = RecipientNotice(request_id=case.id, system_key="accounting", recipient="Our external accountant",
                             action="erase", state=NoticeState.WAITING_FOR_STAFF)
    fee = CaseFee(request_id=case.id, ground=FeeGround.EXCESSIVE, amount_ore=25000, reason="Repeats",
                  payment_instructions="Account 1234.56.78901")
    session.add_all([notice, fee])
    session.commit()
    target, _ = enrolled_staff(session, app, StaffRole.OFFICER, email="target@fjordnett.example")
    clients = {}
    for role in (A, OF, V):
        user, secret = enrolled_staff(session, app, role)
        clients[role] = app.test_client()
        login(clients[role], user, secret)
    clients[None] = app.test_client()
    args = {"case_id": case.id, "task_id": task.id, "message_id": letter.id, "user_id": target.id,
            "notice_id": notice.id, "fee_id": fee.id, "system_key": "crm", "slug": "customers",
            "redaction_id": 1}
    return {"case": case, "clients": clients, "args": args}


def _calls(app, args):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if rule.endpoint not in EXPECTED:
            continue
        url = re.sub(r"<(?:int:)?([a-z_]+)>", lambda m: str(args[m.group(1)]), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


@pytest.mark.parametrize("role", [V, OF, A, None], ids=["viewer", "officer", "admin", "anonymous"])
def test_role_matrix_over_every_endpoint_and_method(app, session, world, role):
    client = world["clients"][role]
    audit_before = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    wrong = []
    for endpoint, method, url in _calls(app, world["args"]):
        response = client.open(url, method=method, data={})
        login_redirect = response.status_code == 302 and "/staff/login" in response.headers.get(
            "Location", ""
        )
        if role is None:
            ok = login_redirect
        elif role in EXPECTED[endpoint]:
            ok = response.status_code != 403 and not login_redirect and response.status_code < 500
        else:
            ok = response.status_code == 403
        if not ok:
            wrong.append(f"{method} {endpoint}: {response.status_code}")
    assert wrong == []
    if role in (V, None):
        # Viewers and strangers changed nothing: no audit entry beyond the CSV export a viewer may take.
        actions = session.scalars(sa.select(AuditEvent.action).where(AuditEvent.seq > audit_before)).all()
        assert set(actions) <= {"register.exported"}
        session.expire_all()
        case = session.get(SubjectRequest, world["case"].id)
        assert case.status is RequestStatus.OPEN and case.assignee_id is None


def test_a_viewer_cannot_decide(world, session):
    viewer = world["clients"][V]
    case = world["case"]
    assert viewer.post(f"/staff/cases/{case.id}/approve").status_code == 403
    assert (
        viewer.post(f"/staff/cases/{case.id}/reject", data={"reason": "other", "text": "no"}).status_code
        == 403
    )
    assert viewer.post(f"/staff/cases/{case.id}/extend", data={"reason": "busy"}).status_code == 403
    session.expire_all()
    assert session.get(SubjectRequest, case.id).status is RequestStatus.OPEN


def test_an_officer_cannot_manage_staff(world, session):
    officer = world["clients"][OF]
    target = world["args"]["user_id"]
    assert officer.get("/staff/accounts/").status_code == 403
    assert (
        officer.post("/staff/accounts/", data={"email": "x@fjordnett.example", "role": "admin"}).status_code
        == 403
    )
    assert officer.post(f"/staff/accounts/{target}/disable").status_code == 403
    assert officer.post(f"/staff/accounts/{target}/role", data={"role": "admin"}).status_code == 403
    session.expire_all()
    assert session.get(StaffUser, target).active and session.get(StaffUser, target).role is StaffRole.OFFICER
    assert session.scalar(sa.select(StaffUser).where(StaffUser.email == "x@fjordnett.example")) is None


def test_a_viewer_sees_identifiers_masked_everywhere(world):
    viewer = world["clients"][V]
    case = world["case"]
    pages = [viewer.get(f"/staff/cases/{case.id}"), viewer.get("/staff/"), viewer.post("/staff/register.csv")]
    for page in pages:
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        for canary in ("canary@example.org", "Kari Canary", "+4791234567", "91234567"):
            assert canary not in text, page.request.path
    assert "c•••@e•••.org" in pages[0].get_data(as_text=True)
    found = viewer.get("/staff/?q=canary@example.org").get_data(
        as_text=True
    )  # the search box echoes the input; viewers search by reference only (issue 13, finding 11)
    assert case.reference not in found.split("<tbody>")[1].split("</tbody>")[0]
    found = viewer.get(f"/staff/?q={case.reference}").get_data(as_text=True)
    results = found.split("<tbody>")[1].split("</tbody>")[0]
    assert case.reference in results and "canary@example.org" not in results and "c•••@e•••.org" in results
    officer_page = world["clients"][OF].get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "canary@example.org" in officer_page and "Kari Canary" in officer_page

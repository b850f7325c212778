"""Every channel: a request by post or phone from someone without e-mail is registered with a postal address,
decided and answered with letters staff print (A4, the controller's letterhead, the case's language) and
record as sent by post, and an access case is completed by handing the bundle over on a medium."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr.actions.completion import send_outcome_letter
from dsr.actions.restriction import request_lift
from dsr.cases import conversation, decisions
from dsr.db import utcnow
from dsr.deadlines.rules import local_date
from dsr.deadlines.service import refresh_deadlines
from dsr.export.delivery import BundleNotFound, downloadable_bundle
from dsr.models import (
    AuditEvent,
    BundleStatus,
    Channel,
    DeliveryChannel,
    DeliveryStatus,
    ExportBundle,
    Handover,
    HandoverMedium,
    Message,
    RequestStatus,
    Right,
    StaffRole,
    SubjectRequest,
)
from dsr.retention.service import reduce_case
from tests.helpers.jobs import run_jobs
from tests.helpers.people import KARI, use_directory
from tests.helpers.staff import enrolled_staff, logged_in_client

PER = {"id": 5, "phone": "+4791234000", "name": "Per Post"}  # no e-mail, on file with his phone
ADDRESS = "Storgata 1\n0155 Oslo"


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems", {"crm": {"name": "Test CRM", "people": [KARI, PER]}})
    return app_config


@pytest.fixture
def officer(app, session):
    return logged_in_client(app, session)


def _yesterday(app) -> str:
    with app.app_context():
        return (local_date(utcnow(), app.extensions["dsr.controller"].timezone) - timedelta(days=1)).isoformat()


def _register(app, officer, **changes):
    form = {"right": "access", "channel": "post", "received_date": _yesterday(app), "received_time": "10:15",
            "filed_by": "self", "full_name": PER["name"], "email": "", "postal_address": ADDRESS,
            "phone": "912 34 000", "language": "nb", "identity": "postal_address_on_file", **changes}
    return officer.post("/staff/register", data=form)


def _case(session) -> SubjectRequest:
    session.expire_all()
    return session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()


def _letters(session, request_id: int) -> list[Message]:
    session.expire_all()
    return session.scalars(sa.select(Message).where(Message.request_id == request_id).order_by(Message.id)).all()


def test_someone_without_email_is_registered_with_a_postal_address_and_acknowledged_by_letter(app, officer,
                                                                                            session):
    assert _register(app, officer).status_code == 302
    case = _case(session)
    assert (case.email, case.postal_address, case.phone) == (None, ADDRESS, PER["phone"])
    assert case.status is RequestStatus.OPEN and case.answered_by_post and case.due_on is not None
    (letter,) = _letters(session, case.id)
    assert (letter.channel, letter.status, letter.to_address) == (DeliveryChannel.POST, DeliveryStatus.PENDING,
                                                                  ADDRESS)
    assert letter.template == "request_acknowledged" and case.reference in letter.body_text
    assert "Vi svarer med brev til denne adressen" in letter.body_text
    page = officer.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "1 letter to print and send by post" in page and "None: answered by post" in page
    assert "A letter to print and send by post" in officer.get(f"/staff/cases/{case.id}/message").get_data(
        as_text=True)


@pytest.mark.parametrize(
    ("changes", "field_error"),
    [
        ({"postal_address": ""}, "Enter an e-mail address or a postal address"),
        ({"identity": "send_codes"}, "The codes go by e-mail"),
        ({"postal_address": "x" * 300}, "Field cannot be longer than 250 characters"),
    ],
)
def test_a_registration_with_nowhere_to_answer_is_refused_and_changes_nothing(app, officer, session, changes,
                                                                             field_error):
    response = _register(app, officer, **changes)
    assert response.status_code == 400 and field_error in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_the_printable_letter_has_the_letterhead_the_address_and_the_case_language(app, officer, session):
    _register(app, officer)
    case = _case(session)
    (letter,) = _letters(session, case.id)
    response = officer.get(f"/staff/cases/{case.id}/letters/{letter.id}/print")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert 'href="/static/letter.css"' in page and 'lang="nb"' in page
    for text in ("Fjordnett Medlemskap AS", "Org.nr. 999 888 777", "+47 22 00 00 00", "personvern@fjordnett.example",
                 PER["name"], "Storgata 1\n0155 Oslo", f"Vår referanse: {case.reference}",
                 f"Vi har mottatt forespørselen din {case.reference}", "Dronningens gate 12, 0152 Oslo, Norge"):
        assert text in page, text
    assert "Norway" not in page  # a Norwegian letter names the country in Norwegian
    assert "[[dsr-" not in page and "Back to the case" in page  # the staff's own words stay English


def test_a_letter_stays_to_send_until_staff_record_it_as_posted(app, officer, session):
    _register(app, officer)
    case = _case(session)
    run_jobs(app)
    (letter,) = _letters(session, case.id)
    assert letter.status is DeliveryStatus.PENDING and letter.sent_at is None
    assert list(Path(app.config["OUTBOX_DIR"]).glob("*.eml")) == []  # nothing was mailed

    assert officer.post(f"/staff/cases/{case.id}/letters/{letter.id}/posted").status_code == 302
    again = officer.post(f"/staff/cases/{case.id}/letters/{letter.id}/posted", follow_redirects=True)
    assert "already recorded as sent by post" in again.get_data(as_text=True)
    (letter,) = _letters(session, case.id)
    assert letter.status is DeliveryStatus.SENT and letter.sent_at is not None
    posted = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "letter.posted")).all()
    assert [(event.request_id, event.details["message_id"]) for event in posted] == [(case.id, letter.id)]
    assert "to print and send by post" not in officer.get(f"/staff/cases/{case.id}").get_data(as_text=True)


def test_a_refusal_by_post_is_a_printable_letter_with_the_right_to_complain(app, officer, session):
    _register(app, officer, right="erasure")
    case = _case(session)
    response = officer.post(f"/staff/cases/{case.id}/reject", data={
        "reason": "exemption", "law": "personopplysningsloven § 16",
        "text": "Opplysningene er unntatt fra retten til sletting."})
    assert response.status_code == 302
    refusal = _letters(session, case.id)[-1]
    assert (refusal.template, refusal.channel, refusal.to_address) == ("case_rejected", DeliveryChannel.POST,
                                                                       ADDRESS)
    assert "Datatilsynet" in refusal.body_text and "unntatt fra retten til sletting" in refusal.body_text
    page = officer.get(f"/staff/cases/{case.id}/letters/{refusal.id}/print").get_data(as_text=True)
    assert "Datatilsynet" in page
    assert officer.post(f"/staff/cases/{case.id}/letters/{refusal.id}/posted").status_code == 302
    assert _letters(session, case.id)[-1].status is DeliveryStatus.SENT


def test_an_access_request_by_post_is_answered_on_a_medium_with_no_download_link(app, officer, session):
    _register(app, officer)
    case = _case(session)
    assert officer.post(f"/staff/cases/{case.id}/approve").status_code == 302
    run_jobs(app)
    case = _case(session)
    assert case.status is RequestStatus.READY_FOR_REVIEW  # Per found by the phone staff vouched for
    panel = officer.get(f"/staff/cases/{case.id}").get_data(as_text=True)
    assert "Record the hand-over on a medium" in panel and "Release to the subject" not in panel
    refused = officer.post(f"/staff/cases/{case.id}/bundle/release", follow_redirects=True)
    assert "answered by post" in refused.get_data(as_text=True)
    assert officer.post(f"/staff/cases/{case.id}/bundle/preview").status_code == 200  # what goes on the stick

    handed = officer.post(f"/staff/cases/{case.id}/bundle/hand-over", data={
        "medium": "usb_stick", "handover": "in_person", "handed_to": PER["name"],
        "handed_over_on": local_date(utcnow(), "Europe/Oslo").isoformat(), "confirm": "y"})
    assert handed.status_code == 302
    case = _case(session)
    bundle = session.scalars(sa.select(ExportBundle).where(ExportBundle.request_id == case.id)).one()
    assert case.status is RequestStatus.COMPLETED and bundle.status is BundleStatus.RELEASED
    assert (bundle.medium, bundle.handover, bundle.handed_to) == (HandoverMedium.USB_STICK, Handover.IN_PERSON,
                                                                  PER["name"])
    event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "bundle.handed_over")).one()
    assert event.details["medium"] == "usb_stick" and PER["name"] not in str(event.details)
    letter = _letters(session, case.id)[-1]
    assert (letter.template, letter.channel) == ("data_handed_over", DeliveryChannel.POST)
    assert "på en minnepinne til Per Post" in letter.body_text and "Test CRM: opplysninger om deg" in letter.body_text
    assert not any(m.template == "data_ready" for m in _letters(session, case.id))
    with app.app_context(), pytest.raises(BundleNotFound):
        downloadable_bundle(session, case.id, bundle.download_id)
    for sent in _letters(session, case.id):  # the acknowledgement and the hand-over letter
        assert officer.post(f"/staff/cases/{case.id}/letters/{sent.id}/posted").status_code == 302
    assert {m.status for m in _letters(session, case.id)} == {DeliveryStatus.SENT}


def test_a_hand_over_in_the_future_is_refused_and_nothing_is_released(app, officer, session):
    _register(app, officer)
    case = _case(session)
    officer.post(f"/staff/cases/{case.id}/approve")
    run_jobs(app)
    tomorrow = (local_date(utcnow(), "Europe/Oslo") + timedelta(days=1)).isoformat()
    response = officer.post(f"/staff/cases/{case.id}/bundle/hand-over", data={
        "medium": "printed_copy", "handover": "by_post", "handed_to": PER["name"], "handed_over_on": tomorrow,
        "confirm": "y"})
    assert response.status_code == 400 and "cannot be in the future" in response.get_data(as_text=True)
    case = _case(session)
    assert case.status is RequestStatus.READY_FOR_REVIEW
    assert session.scalars(sa.select(ExportBundle.status)).one() is BundleStatus.READY_FOR_REVIEW


def test_an_email_subject_cannot_be_answered_on_a_medium(app, officer, session):
    _register(app, officer, email=KARI["email"], postal_address="", phone="", identity="email_on_file")
    case = _case(session)
    officer.post(f"/staff/cases/{case.id}/approve")
    run_jobs(app)
    response = officer.post(f"/staff/cases/{case.id}/bundle/hand-over", data={
        "medium": "usb_stick", "handover": "in_person", "handed_to": "Kari",
        "handed_over_on": local_date(utcnow(), "Europe/Oslo").isoformat(), "confirm": "y"})
    assert response.status_code == 400 and "answered by e-mail" in response.get_data(as_text=True)
    assert _case(session).status is RequestStatus.READY_FOR_REVIEW


def test_a_viewer_cannot_print_or_post_letters(app, officer, session):
    _register(app, officer)
    case = _case(session)
    (letter,) = _letters(session, case.id)
    client = logged_in_client(app, session, StaffRole.VIEWER)
    assert client.get(f"/staff/cases/{case.id}/letters/{letter.id}/print").status_code == 403
    assert client.post(f"/staff/cases/{case.id}/letters/{letter.id}/posted").status_code == 403
    assert PER["name"] not in client.get(f"/staff/cases/{case.id}").get_data(as_text=True)


def _post_case(app, session, language: str, status: RequestStatus = RequestStatus.OPEN, **extra) -> SubjectRequest:
    case = SubjectRequest(right=Right.RESTRICTION, status=status, channel=Channel.POST, language=language,
                          email=None, full_name=PER["name"], postal_address=ADDRESS, verified_at=utcnow(),
                          identity_method="staff:postal_address_on_file", **extra)
    session.add(case)
    session.flush()
    refresh_deadlines(case, app.extensions["dsr.controller"])
    return case


LETTERS = {
    "information_request": lambda s, case, staff, c: decisions.ask_subject(
        s, case, actor=staff, text="Hvilken konto gjelder det?", about_identity=True, controller=c),
    "extension_notice": lambda s, case, staff, c: decisions.extend(
        s, case, actor=staff, reason="Mange forespørsler nå.", controller=c),
    "staff_message": lambda s, case, staff, c: conversation.send_message(
        s, case, actor=staff, text="Vi ringer deg i morgen.", controller=c),
    "case_withdrawn": lambda s, case, staff, c: decisions.close_withdrawn(s, case, actor=staff, controller=c),
    "action_outcome": lambda s, case, staff, c: send_outcome_letter(s, case, []),
    "restriction_lift_notice": lambda s, case, staff, c: request_lift(
        s, case, actor=staff, reason="Opplysningene er kontrollert og riktige."),
}


@pytest.mark.parametrize("language", ["nb", "en"])
@pytest.mark.parametrize("template", sorted(LETTERS))
def test_every_letter_a_case_sends_is_printed_for_someone_without_email(app, session, template, language):
    staff, _secret = enrolled_staff(session, app)
    case = _post_case(app, session, language, restricted_at=utcnow())
    letter = LETTERS[template](session, case, staff, app.extensions["dsr.controller"])
    session.commit()
    assert (letter.template, letter.channel, letter.status) == (template, DeliveryChannel.POST,
                                                                DeliveryStatus.PENDING)
    assert letter.to_address == ADDRESS and case.reference in letter.body_text
    for e_mail_only in ("[[dsr-", "/case/", "this e-mail", "denne e-posten"):
        assert e_mail_only not in letter.body_text, e_mail_only


def test_retention_removes_the_postal_address_and_to_whom_the_bundle_was_handed(app, officer, session):
    _register(app, officer)
    case = _case(session)
    officer.post(f"/staff/cases/{case.id}/approve")
    run_jobs(app)
    officer.post(f"/staff/cases/{case.id}/bundle/hand-over", data={
        "medium": "printed_copy", "handover": "by_post", "handed_to": PER["name"],
        "handed_over_on": local_date(utcnow(), "Europe/Oslo").isoformat(), "confirm": "y"})
    session.expire_all()
    assert reduce_case(session, case.id, now=utcnow() + timedelta(days=4000))
    session.commit()
    case = _case(session)
    bundle = session.scalars(sa.select(ExportBundle).where(ExportBundle.request_id == case.id)).one()
    assert (case.postal_address, case.full_name, bundle.handed_to) == (None, None, None)
    assert bundle.medium is HandoverMedium.PRINTED_COPY  # proof of handling: how, not to whom
    assert all(m.to_address is None and m.body_text == "" for m in _letters(session, case.id))

"""Erasure on the demo systems (issue 12's acceptance): planned, approved, carried out in every system by a
real worker, proven; the bookkeeping hold keeps the invoices with their ground and date; the letter says so
in the case's language; an access request afterwards finds only what was kept; a follow-up erasure waits
for the day the hold ends."""
from __future__ import annotations

import csv
import json
import sqlite3
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from dsr.actions.approval import approve_plans, confirm_by_hand
from dsr.actions.completion import complete_if_done
from dsr.actions.recipients import confirm_notice
from dsr.export.manual import complete_manual_task
from dsr.models import (
    ExportBundle,
    Message,
    NoticeState,
    OutboxJob,
    RecipientNotice,
    RequestStatus,
    Right,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
)
from tests.helpers.export import KARI, approve, bundle_zip, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import text_of
from tests.helpers.staff import officer as add_officer


def _erasure(session, language: str = "nb") -> SubjectRequest:
    request = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ERASURE, language=language)
    session.add(request)
    session.commit()
    approve(session, request)
    return request


def _erase_tasks(session, request) -> dict[str, SystemTask]:
    session.expire_all()
    return {task.system_key: task for task in session.scalars(sa.select(SystemTask).where(
        SystemTask.request_id == request.id, SystemTask.action == TaskAction.ERASE))}


def _crm_contacts(app) -> int:
    with sqlite3.connect(Path(app.instance_path) / "demo" / "crm.sqlite3") as db:
        return db.execute("SELECT count(*) FROM contacts WHERE lower(email) = ?", (KARI,)).fetchone()[0]


def _newsletter_lines(app) -> int:
    with open(Path(app.instance_path) / "demo" / "newsletter.csv", encoding="utf-8-sig", newline="") as handle:
        return sum(1 for row in csv.DictReader(handle) if row["email"].lower() == KARI)


def _invoices(app) -> int:
    with sqlite3.connect(Path(app.instance_path) / "demo" / "accounting.sqlite3") as db:
        return db.execute("SELECT count(*) FROM invoices JOIN customers ON customers.id = invoices.customer_id "
                          "WHERE lower(customers.email) = ?", (KARI,)).fetchone()[0]


def test_an_erasure_is_planned_then_after_approval_carried_out_everywhere_and_the_hold_keeps_the_invoices(
        smtp, demo_app, demo_session, chat):
    officer = add_officer(demo_session)
    invoices = _invoices(demo_app)
    assert invoices and _crm_contacts(demo_app) == 1 and _newsletter_lines(demo_app) == 1
    request = _erasure(demo_session)
    run_jobs(demo_app)

    erase = _erase_tasks(demo_session, request)
    assert {key: t.state for key, t in erase.items()} == {
        "crm": TaskState.AWAITING_APPROVAL, "accounting": TaskState.AWAITING_APPROVAL,
        "newsletter": TaskState.AWAITING_APPROVAL, "support_chat": TaskState.AWAITING_APPROVAL,
        "mailbox": TaskState.WAITING_FOR_STAFF}
    assert _crm_contacts(demo_app) == 1 and _newsletter_lines(demo_app) == 1  # a plan changes nothing
    kept = erase["accounting"].result["plan"]["kept"]
    assert {k["collection"] for k in kept} == {"customers", "invoices", "invoice_lines"}
    assert all("Bokføringsloven" in k["ground"] for k in kept)

    with demo_app.app_context():
        assert approve_plans(demo_session, request, actor=officer, values={}, note="", four_eyes=False) == "applied"
        demo_session.commit()
    run_jobs(demo_app)

    tasks = _erase_tasks(demo_session, request)
    for key in ("crm", "accounting", "newsletter", "support_chat"):
        assert tasks[key].state is TaskState.DONE, (key, tasks[key].last_error)
        assert tasks[key].result["proof"]["ok"], tasks[key].result["proof"]
    assert _crm_contacts(demo_app) == 0 and _newsletter_lines(demo_app) == 0
    assert KARI not in chat.customers  # deleted through the chat service's own API
    assert _invoices(demo_app) == invoices  # kept under the bookkeeping hold
    demo_session.refresh(request)
    assert request.status is RequestStatus.IN_PROGRESS  # the mailbox is still to be searched by hand

    with demo_app.app_context():
        confirm_by_hand(demo_session, request, tasks["mailbox"], actor=officer,
                        note="Searched the shared mailbox: nothing about her")
        demo_session.commit()
        demo_session.refresh(request)
        assert request.status is RequestStatus.IN_PROGRESS  # the accountant has no address: staff tell them
        by_hand = demo_session.scalars(sa.select(RecipientNotice).where(
            RecipientNotice.request_id == request.id, RecipientNotice.state == NoticeState.WAITING_FOR_STAFF)).all()
        assert [notice.recipient for notice in by_hand] == ["Our external accountant"]
        confirm_notice(demo_session, by_hand[0], officer)
        complete_if_done(demo_session, request)
        demo_session.commit()
    run_jobs(demo_app)
    demo_session.refresh(request)
    assert request.status is RequestStatus.COMPLETED

    letter = smtp.wait_for(KARI)[-1]
    text = text_of(letter)
    assert letter["Subject"].startswith("Forespørselen din") and "Regnskap og fakturering" in text
    assert "Bokføringsloven § 13" in text and "desember 2026" in text and "Datatilsynet" in text
    assert "Kundesamtaler" not in text and "Customer" not in text  # no English in a Norwegian letter
    # Art. 19: the recipients as the systems file names them in Norwegian (name_nb)
    assert "Vår eksterne regnskapsfører" in text and "Tripletex AS (regnskapssystem)" in text
    assert "Our external accountant" not in text and "accounting system" not in text
    assert "0105 Oslo, Norge" in text and "Norway" not in text  # Datatilsynet's address in a Norwegian letter

    follow_up = demo_session.scalar(sa.select(SystemTask).where(SystemTask.request_id == request.id,
                                                                SystemTask.action == TaskAction.FOLLOW_UP_ERASE))
    assert follow_up.system_key == "accounting" and follow_up.state is TaskState.PENDING
    assert follow_up.due_on == date(2027, 1, 1)
    [due] = [row for row in demo_session.scalars(sa.select(OutboxJob).where(OutboxJob.job_name == "act_on_system"))
             if row.args == [follow_up.id]]
    assert due.run_at is not None and due.run_at.date() >= date(2026, 12, 31)

    notices = demo_session.scalars(sa.select(Message).where(Message.request_id == request.id,
                                                            Message.to_address.like("%privacy%"))).all()
    assert notices  # Art. 19: the recipients with an address were told


def test_an_access_request_after_the_erasure_finds_only_what_was_kept(demo_app, demo_session, chat):
    officer = add_officer(demo_session)
    request = _erasure(demo_session, language="en")
    run_jobs(demo_app)
    with demo_app.app_context():
        approve_plans(demo_session, request, actor=officer, values={}, note="", four_eyes=False)
        demo_session.commit()
    run_jobs(demo_app)

    access = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ACCESS, language="en")
    demo_session.add(access)
    demo_session.commit()
    approve(demo_session, access)
    run_jobs(demo_app)
    mailbox = tasks_by_system(demo_session, access.id)["mailbox"]
    with demo_app.app_context():
        complete_manual_task(demo_session, mailbox.id, officer.id, nothing_found=True)
        demo_session.commit()
    run_jobs(demo_app)
    _bundle, archive, _raw = bundle_zip(demo_session, access.id, officer.id)
    data = [name for name in archive.namelist() if name.startswith("data/")]
    assert data and all(name.startswith("data/accounting/") for name in data), data
    [customer] = json.loads(archive.read("data/accounting/customers.json"))
    assert customer["phone"] is None and customer["credit_rating"] is None  # erased from the kept row
    assert customer["name"] == "Kari Nordmann"  # kept: the bookkeeping hold needs it
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(ExportBundle)) == 1

"""A worker SIGKILLed in the middle of an erasure, after the first systems were erased and while the support
chat's deletion is on its way (issue 12, SECURITY-PLAN F2): the next worker finishes the rest from the
frozen plans, and the result is what an uninterrupted run gives: every system erased as planned and
proven, the kept invoices still there, no system's erasure carried out twice to a different result."""
from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr import create_app
from dsr.actions.approval import approve_plans
from dsr.db import get_db
from dsr.demo_systems.build import ensure_demo_data
from dsr.models import (
    AuditEvent,
    RequestStatus,
    Right,
    StaffRole,
    StaffUser,
    SubjectRequest,
    SystemTask,
    TaskAction,
    TaskState,
)
from tests.helpers.export import KARI, approve
from tests.helpers.jobs import kill_family, run_jobs, spawn_worker, stop_worker, wait_until

AUTOMATED = ("crm", "accounting", "newsletter", "support_chat")


def _erase_tasks(session, request) -> dict[str, SystemTask]:
    session.expire_all()
    return {t.system_key: t for t in session.scalars(sa.select(SystemTask).where(
        SystemTask.request_id == request.id, SystemTask.action == TaskAction.ERASE))}


def _kari_everywhere(app, chat) -> dict[str, object]:
    demo = Path(app.instance_path) / "demo"
    with sqlite3.connect(demo / "crm.sqlite3") as crm:
        contacts = crm.execute("SELECT count(*) FROM contacts WHERE lower(email) = ?", (KARI,)).fetchone()[0]
    with sqlite3.connect(demo / "accounting.sqlite3") as accounting:
        customer = accounting.execute("SELECT name, phone, credit_rating FROM customers WHERE lower(email) = ?",
                                      (KARI,)).fetchone()
        invoices = accounting.execute("SELECT count(*) FROM invoices WHERE customer_id = 1001").fetchone()[0]
    with open(demo / "newsletter.csv", encoding="utf-8-sig", newline="") as handle:
        newsletter = sum(1 for row in csv.DictReader(handle) if row["email"].lower() == KARI)
    return {"crm": contacts, "accounting": customer, "invoices": invoices, "newsletter": newsletter,
            "chat": KARI in chat.customers}


@pytest.mark.slow
def test_a_worker_killed_mid_erasure_leaves_the_rest_to_the_next_and_the_result_is_the_planned_one(
        app_config, tmp_path, chat, monkeypatch):
    app_config.update(EXPORT_LEASE_SECONDS=2)
    monkeypatch.setenv("DSR_EXPORT_LEASE_SECONDS", "2")
    ensure_demo_data(Path(app_config["INSTANCE_PATH"]))
    app = create_app(app_config)
    with app.app_context(), get_db(app).session() as session:
        officer = StaffUser(email="officer@fjordnett.example", display_name="Officer", role=StaffRole.OFFICER,
                            password_hash="x", must_change_password=False)
        request = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ERASURE, language="en")
        session.add_all([officer, request])
        session.commit()
        approve(session, request)
        run_jobs(app)  # the plans
        before = _kari_everywhere(app, chat)
        invoices = before["invoices"]
        assert invoices and before["crm"] == 1 and before["chat"]
        planned = {key: task.attempts for key, task in _erase_tasks(session, request).items()}
        approve_plans(session, request, actor=officer, values={}, note="", four_eyes=False)
        session.commit()  # the apply jobs are queued now

        chat.write_delay = 4.0  # the chat service's deletion takes its time: the kill lands during it
        worker = spawn_worker(app, tmp_path / "worker1.log")

        def chat_under_way():
            tasks = _erase_tasks(session, request)
            done = [key for key in AUTOMATED if tasks[key].state is TaskState.DONE]
            return done and tasks["support_chat"].state is TaskState.RUNNING and done

        try:
            erased_first = wait_until(chat_under_way, timeout=60, interval=0.02, message="the chat's erasure under way")
        finally:
            kill_family(worker.pid)
            worker.wait(10)
        chat.write_delay = 0.0
        assert _erase_tasks(session, request)["support_chat"].state is TaskState.RUNNING  # the dead worker's

        worker = spawn_worker(app, tmp_path / "worker2.log")
        try:
            def all_done():
                tasks = _erase_tasks(session, request)
                return all(tasks[key].state is TaskState.DONE for key in AUTOMATED)
            wait_until(all_done, timeout=90, interval=0.2, message="every system erased after the restart")
        finally:
            stop_worker(worker)

        tasks = _erase_tasks(session, request)
        for key in AUTOMATED:
            assert tasks[key].result["proof"]["ok"], (key, tasks[key].result["proof"])
        for key in erased_first:
            assert tasks[key].attempts == planned[key] + 1  # applied once, not again
        assert tasks["support_chat"].attempts >= planned["support_chat"] + 2  # the killed attempt, and its retry
        after = _kari_everywhere(app, chat)
        assert after == {"crm": 0, "accounting": ("Kari Nordmann", None, None), "invoices": invoices,
                         "newsletter": 0, "chat": False}
        finished = session.scalars(sa.select(AuditEvent.details).where(
            AuditEvent.request_id == request.id, AuditEvent.action == "actions.system_done")).all()
        assert sorted(d["system"] for d in finished) == sorted(AUTOMATED)  # each system's end recorded once
    get_db(app).dispose()

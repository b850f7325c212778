"""`flask dsr ...` (or the `dsr` console script): thin commands over services."""
from __future__ import annotations

import logging
import os
import sys

import click
from alembic import command as alembic_command
from flask import current_app
from flask.cli import AppGroup, FlaskGroup

import dsr
from dsr.audit.service import (
    audit_key,
    audit_keys,
    missing_in_production,
    verify,
    verify_heads,
    write_audit_head,
)
from dsr.auth.accounts import AccountError
from dsr.auth.accounts import create_staff as create
from dsr.bundle.signing import fingerprint, private_key, public_key_text
from dsr.bundle.writer import SIGNATURE, verify_bundle
from dsr.canary.check import check_system
from dsr.canary.service import record_check
from dsr.connectors.base import Identity
from dsr.connectors.registry import get_systems
from dsr.connectors.templates import available as available_templates
from dsr.db import get_session
from dsr.deadlines.rules import compute_deadlines, parse_instant
from dsr.demo import load_demo
from dsr.keys import reseal_values
from dsr.migrate import alembic_config, current_revision, upgrade
from dsr.models import StaffRole
from dsr.queue.sweep import sweep_outbox
from dsr.queue.worker import run_worker
from dsr.runner import run_portal

dsr_group = AppGroup("dsr", help="Data-subject request portal commands.")


@dsr_group.command("db-upgrade")
def db_upgrade() -> None:
    """Apply database migrations (SQLite or PostgreSQL)."""
    upgrade(current_app)
    click.echo(f"database at revision {current_revision(current_app)}")


@dsr_group.command("db-revision")
@click.argument("message")
def db_revision(message: str) -> None:
    """(Developers) write a new migration from the difference between the models and the database."""
    alembic_command.revision(alembic_config(current_app), message=message, autogenerate=True)


@dsr_group.command("worker")
@click.option("--burst", is_flag=True, help="Run queued jobs, then exit.")
@click.option("--queue", "queues", multiple=True, help="Queue(s) to serve (default: all).")
def worker(burst: bool, queues: tuple[str, ...]) -> None:
    """Run an RQ worker with the outbox sweep (publishing due work and retries) on the configured Redis."""
    if missing_in_production(current_app):
        click.echo("DSR_AUDIT_KEY is not set: a production worker does not start without the key that "
                   "seals the audit chain.", err=True)
        sys.exit(2)
    os.umask(0o077)  # outbox files and bundles it writes are the owner's alone
    _log_to_stderr()
    run_worker(current_app._get_current_object(), burst=burst, queues=list(queues) or None)


@dsr_group.command("sweep")
def sweep() -> None:
    """Publish outbox rows the relay left behind, once."""
    _require_schema()
    counts = sweep_outbox(current_app._get_current_object())
    click.echo(" ".join(f"{key}={value}" for key, value in counts.items()))


@dsr_group.command("audit-verify")
def audit_verify() -> None:
    """Check the audit chain: its links, the seal of every row under DSR_AUDIT_KEY, and the heads written by
    `audit-head`. Prints OK <rows>, or BAD <sequence number> and exits 1 (the reason on stderr); exits 2
    when there is no DSR_AUDIT_KEY to check the seals with."""
    _require_schema()
    key = audit_key()
    if key is None:
        click.echo("DSR_AUDIT_KEY is not set: the seals of the audit chain cannot be checked without it "
                   "(the run command keeps it in instance/secrets.json).", err=True)
        sys.exit(2)
    session = get_session()
    result = verify(session, audit_keys())
    if result.ok:
        result = verify_heads(session, current_app.config["AUDIT_HEAD_FILE"]) or result
    if result.ok:
        click.echo(f"OK {result.rows}")
        return
    click.echo(f"BAD {result.bad_seq}")
    click.echo(f"row {result.bad_seq}: {result.reason}", err=True)
    sys.exit(1)


@dsr_group.command("reseal")
def reseal() -> None:
    """After rotating DSR_ENCRYPTION_KEY (the old key listed in DSR_ENCRYPTION_KEY_FALLBACKS): seal the
    staff's TOTP seeds and waiting one-time secrets with the new key. Prints the counts."""
    _require_schema()
    session = get_session()
    counts = reseal_values(session)
    session.commit()
    click.echo(" ".join(f"{key}={value}" for key, value in counts.items()))


@dsr_group.command("audit-head")
def audit_head() -> None:
    """Append the head of the audit chain to DSR_AUDIT_HEAD_FILE (instance/audit-head.log), where the
    database cannot change it; a worker does this daily. Prints the line."""
    _require_schema()
    click.echo(write_audit_head(get_session(), current_app.config["AUDIT_HEAD_FILE"]))


@dsr_group.command("create-staff")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "officer", "viewer"]), default="officer", show_default=True)
@click.option("--name", "display_name", default="", help="Display name (default: the part before @).")
def create_staff(email: str, role: str, display_name: str) -> None:
    """Create a staff account and print its one-time password (changed at first login, with TOTP set up)."""
    _require_schema()
    session = get_session()
    try:
        user, password = create(session, email=email, role=StaffRole(role), display_name=display_name,
                                actor_type="system", actor_id="cli")
    except AccountError as exc:
        session.rollback()
        click.echo(str(exc), err=True)
        sys.exit(2)
    session.commit()
    click.echo(f"created {user.role.value} {user.email}")
    click.echo(f"one-time password: {password}")
    click.echo("It must be changed at the first login, where two-step verification is also set up.")


@dsr_group.command("deadline")
@click.argument("received_at")
def deadline(received_at: str) -> None:
    """Print `due YYYY-MM-DD extended YYYY-MM-DD` for a receipt instant (ISO 8601 with an offset); when the
    controller's `answer_within_days` sets an earlier due date, the line says so and gives the law's."""
    controller = current_app.extensions["dsr.controller"]
    try:
        instant = parse_instant(received_at)
        result = compute_deadlines(instant, tz=controller.timezone, country=controller.holiday_country, pauses=(),
                                   promised_days=controller.answer_within_days)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    line = f"due {result.due_on.isoformat()} extended {result.extended_due_on.isoformat()}"
    if result.promise_binds:
        line += f" (promised within {result.promised_days} days; the law's month ends {result.legal_due_on.isoformat()})"
    click.echo(line)


@dsr_group.command("bundle-verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--public-key", default=None,
              help="The controller's published bundle key, or its fingerprint (in the \"your data is ready\" "
                   "letter); default: this installation's key.")
def bundle_verify(file: str, public_key: str | None) -> None:
    """Check a downloaded export bundle: prints OK (exit 0) only when the files match manifest.json, the
    signature is valid AND its key is the controller's; BAD <path> (exit 1) for anything changed, forged
    or signed by another key; UNVERIFIED-SIGNER <fingerprint> (exit 2) when there was no key to compare
    with (no --public-key, no DSR_SIGNING_KEY). What was compared is said on stderr."""
    expected, source = public_key, "the key given with --public-key"
    if expected is None and current_app.config.get("SIGNING_KEY"):
        expected = public_key_text(private_key(current_app.config["SIGNING_KEY"]))
        source = "this installation's bundle-signing key"
    result = verify_bundle(file, expected)
    signer = fingerprint(result.public_key) if result.public_key else None
    if not result.ok:
        click.echo(f"BAD {result.bad_path}")
        if result.bad_path == SIGNATURE and result.key_checked:
            click.echo(f"signed by key {signer}, which is NOT {source} ({_fingerprint_of(expected)})",
                       err=True)
        sys.exit(1)
    if not result.key_checked:
        click.echo(f"UNVERIFIED-SIGNER {signer}")
        click.echo(f"The files match the manifest and its signature by key {signer}, but that key was not "
                   "compared with the controller's: run again with --public-key and the key or fingerprint "
                   "the controller published (the \"your data is ready\" letter has it).", err=True)
        sys.exit(2)
    click.echo("OK")
    click.echo(f"signed by key {signer}, the same as {source}", err=True)


def _fingerprint_of(key_or_fingerprint: str) -> str:

    text = key_or_fingerprint.strip()
    if ":" in text:
        return text.lower()
    try:
        return fingerprint(text)
    except ValueError:
        return "an unreadable key"


@dsr_group.command("bundle-public-key")
def bundle_public_key() -> None:
    """Print this installation's bundle-signing public key and its fingerprint (publish them)."""
    text = public_key_text(private_key(current_app.config.get("SIGNING_KEY")))
    click.echo(text)
    click.echo(f"fingerprint {fingerprint(text)}")


@dsr_group.command("demo")
def demo() -> None:
    """Migrate, load the demo data (idempotent) and print the demo staff login (its password only once)."""
    upgrade(current_app)
    info = load_demo(current_app._get_current_object())
    if info.one_time_password:
        click.echo(f"demo staff: {info.staff_email} / one-time password: {info.one_time_password}")
        click.echo("It must be changed at the first login, where two-step verification is also set up.")
    else:
        click.echo(f"demo staff: {info.staff_email} (exists; its one-time password was shown once)")


@dsr_group.command("run")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "5000")), show_default="PORT or 5000")
@click.option("--host", default="127.0.0.1", show_default=True)
def run(port: int, host: str) -> None:
    """Start the portal with its worker on the embedded defaults (what the README's run command does)."""
    _log_to_stderr()
    sys.exit(run_portal(current_app._get_current_object(), host=host, port=port))


systems_group = AppGroup("systems", help="Connected systems: the ready-made templates, and a check of one system.")
dsr_group.add_command(systems_group)


@systems_group.command("list")
def systems_list() -> None:
    """The shipped templates (on: which [[systems]] entries use them), then every declared system."""
    systems = get_systems(current_app)
    using: dict[str, list[str]] = {}
    for key, system in systems.items():
        if system.template:
            using.setdefault(system.template, []).append(key)
    click.echo("templates (template = \"NAME\" in a [[systems]] entry):")
    for name, template in available_templates().items():
        state = "on: " + ", ".join(using[name]) if name in using else "off"
        click.echo(f"  {name:18} {state:24} {template.title}  ({template.docs})")
    click.echo("systems:")
    for key, system in systems.items():
        canary = f"canary {system.canary.email}" if system.canary else "no canary"
        click.echo(f"  {key:18} {system.connector.kind:8} {system.template or '-':18} {canary}")


@systems_group.command("check")
@click.argument("key")
@click.option("--email", default=None, help="Look up this address instead of the system's canary identity.")
@click.option("--no-export", is_flag=True, help="Only locate; do not export what is found.")
@click.option("--save", is_flag=True, help="Keep the result as the system's canary result (dashboard, mail).")
def systems_check(key: str, email: str | None, no_export: bool, save: bool) -> None:
    """Locate a test identity in system KEY (its `canary`, or --email) and export it, printing each request's
    status and time, the records and fields found. Exit 1 on an error, 2 on a wrong command."""
    system = get_systems(current_app).get(key)
    if system is None:
        click.echo(f"no system {key!r} is declared (flask dsr systems list)", err=True)
        sys.exit(2)
    if getattr(system.connector, "needs_person", False):
        click.echo(f"{key}: a person searches this system ({system.connector.kind}); there is nothing to check")
        return
    identity = Identity(email=email.strip().lower()) if email else system.canary
    if identity is None:
        click.echo(f"system {key} declares no test identity: add canary = {{ email = \"...\" }} or give --email",
                   err=True)
        sys.exit(2)
    report = check_system(system, identity, export=not no_export)
    for step in report.steps:
        status = step.status if step.status is not None else "no answer"
        click.echo(f"  {step.what:28} {step.method:6} {status!s:>9} {step.seconds * 1000:8.0f} ms")
    click.echo(f"located: {'yes' if report.found else 'NO'} ({report.keys} record(s))")
    for collection, count in report.records.items():
        click.echo(f"  {collection}: {count} record(s); fields: {', '.join(report.shape.get(collection, []))}")
    click.echo(f"{len(report.steps)} request(s) in {report.seconds:.2f} s")
    if save:
        _require_schema()
        session = get_session()
        row = record_check(session, system, report)
        session.commit()
        click.echo(f"saved: {'OK' if row.ok else 'problem: ' + (row.problem or '')}")
    if report.error or not report.found:
        click.echo(f"ERROR {report.error or 'the test identity was not found'}", err=True)
        sys.exit(1)


def _require_schema() -> None:

    if current_revision(current_app) is None:
        click.echo("The database has no schema yet: run `flask dsr db-upgrade` first "
                   "(the run command does it for you).", err=True)
        sys.exit(2)


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Console script `dsr`: the same commands without typing `flask`."""
    cli = FlaskGroup(create_app=lambda: dsr.create_app(), add_default_commands=False)
    for name, command in dsr_group.commands.items():
        cli.add_command(command, name)
    cli.main()

"""Writes the demo systems' data under <instance>/demo/ (idempotent: a version file says it is done)."""
from __future__ import annotations

import csv
import os
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from dsr.demo_systems.people import COMPANIES, people, rng_for

VERSION = "4"
ACTIVITY_KINDS = (("call", "Telefonsamtale"), ("meeting", "Møte"), ("email", "E-post"))
NOTES = ("Ønsker tilbud på bedriftsmedlemskap.", "Spurte om fakturering per avdeling.",
         "Interessert i kurs til høsten.", "Ba om å bli kontaktet etter ferien.", "Fornøyd med tjenesten.",
         "Vil ha oversikt over fordeler for ansatte.")
PRODUCTS = (("Bedriftsmedlemskap, årsavgift", 4900), ("Kurs: Innkjøp i praksis", 3200),
            ("Medlemskap, tilleggsbruker", 950), ("Rådgivning, time", 1450))


def demo_dir(instance: Path) -> Path:
    return instance / "demo"


def ensure_demo_data(instance: Path) -> Path:
    folder = demo_dir(instance)
    marker = folder / "VERSION"
    if marker.exists() and marker.read_text().strip() == VERSION:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    everyone = people()
    _write_sqlite(folder / "crm.sqlite3", _crm_sql(everyone))
    _write_sqlite(folder / "accounting.sqlite3", _accounting_sql(everyone))
    _write_newsletter(folder / "newsletter.csv", everyone)
    marker.write_text(VERSION + "\n")
    return folder


def _write_sqlite(path: Path, statements: list[tuple[str, list[tuple]]]) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    connection = sqlite3.connect(temp)
    try:
        for sql, rows in statements:
            if rows:
                connection.executemany(sql, rows)
            else:
                connection.executescript(sql)
        connection.commit()
    finally:
        connection.close()
    os.replace(temp, path)


def _crm_sql(everyone) -> list[tuple[str, list[tuple]]]:
    schema = """
    CREATE TABLE companies (id INTEGER PRIMARY KEY, name TEXT NOT NULL, org_number TEXT, city TEXT);
    CREATE TABLE contacts (id INTEGER PRIMARY KEY, company_id INTEGER REFERENCES companies(id),
        first_name TEXT, last_name TEXT, email TEXT, phone TEXT, job_title TEXT, created_at TEXT,
        lead_score INTEGER, lifecycle_stage TEXT, processing_restricted INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX ix_contacts_email ON contacts (lower(email));
    CREATE TABLE activities (id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL REFERENCES contacts(id),
        kind TEXT, occurred_at TEXT, subject TEXT, note TEXT, logged_by TEXT);
    CREATE INDEX ix_activities_contact ON activities (contact_id);
    CREATE TABLE marketing_consents (id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL REFERENCES contacts(id),
        purpose TEXT, channel TEXT, granted_at TEXT, withdrawn_at TEXT, wording_version TEXT);
    CREATE INDEX ix_consents_contact ON marketing_consents (contact_id);
    """
    companies = [(i + 1, name, f"9{(i * 7919) % 100000000:08d}", ["Oslo", "Bergen", "Trondheim"][i % 3])
                 for i, name in enumerate(COMPANIES)]
    contacts, activities, consents = [], [], []
    for person in everyone:
        if not person.in_crm:
            continue
        rng = rng_for("crm", person.id)
        score = rng.randint(5, 95)
        stage = "customer" if person.in_accounting else ("lead" if score > 50 else "subscriber")
        contacts.append((person.id, None if person.company is None else person.company + 1, person.first_name,
                         person.last_name, person.email, person.phone, person.title,
                         f"{person.joined.isoformat()}T09:00:00", score, stage, 0))
        for n in range(rng.randint(0, 5)):
            kind, label = rng.choice(ACTIVITY_KINDS)
            when = person.joined + timedelta(days=rng.randint(1, 600))
            activities.append((None, person.id, kind, f"{when.isoformat()}T{rng.randint(8, 16):02d}:30:00",
                               f"{label} med {person.first_name}", rng.choice(NOTES),
                               rng.choice(("Ingrid S.", "Petter A.", "Mona L."))))
        if rng.random() < 0.5 or person.id == 1:
            consents.append((None, person.id, "newsletter", "email", f"{person.joined.isoformat()}T10:00:00", None,
                             "v2"))
        if rng.random() < 0.3 or person.id == 1:
            consents.append((None, person.id, "event_invitations", "sms", f"{person.joined.isoformat()}T10:01:00",
                             None, "v1"))
    return [
        (schema, []),
        ("INSERT INTO companies VALUES (?, ?, ?, ?)", companies),
        ("INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", contacts),
        ("INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?, ?)", activities),
        ("INSERT INTO marketing_consents VALUES (?, ?, ?, ?, ?, ?, ?)", consents),
    ]


def _accounting_sql(everyone) -> list[tuple[str, list[tuple]]]:
    schema = """
    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, phone TEXT, address TEXT,
        customer_since TEXT, credit_rating TEXT);
    CREATE INDEX ix_customers_email ON customers (lower(email));
    CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
        invoice_number TEXT, issued_on TEXT, due_on TEXT, amount_nok TEXT, paid_on TEXT, status TEXT);
    CREATE INDEX ix_invoices_customer ON invoices (customer_id);
    CREATE TABLE invoice_lines (id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES invoices(id),
        description TEXT, quantity INTEGER, unit_price_nok TEXT);
    CREATE INDEX ix_lines_invoice ON invoice_lines (invoice_id);
    CREATE TABLE suppressed_customers (customer_id INTEGER PRIMARY KEY REFERENCES customers(id));
    """
    customers, invoices, lines = [], [], []
    invoice_id = 0
    line_id = 0
    for person in everyone:
        if not person.in_accounting:
            continue
        rng = rng_for("accounting", person.id)
        customer_id = 1000 + person.id
        customers.append((customer_id, f"{person.first_name} {person.last_name}", person.email, person.phone,
                          person.address, person.joined.isoformat(), rng.choice(("A", "A", "B"))))
        for n in range(rng.randint(1, 6)):
            invoice_id += 1
            issued = person.joined + timedelta(days=30 + 365 * n + rng.randint(0, 40))
            if issued > date(2026, 11, 1):
                break
            total = 0
            for _ in range(rng.randint(1, 3)):
                line_id += 1
                description, price = rng.choice(PRODUCTS)
                quantity = rng.randint(1, 3)
                total += quantity * price
                lines.append((line_id, invoice_id, description, quantity, f"{price:.2f}"))
            invoices.append((invoice_id, customer_id, f"2{invoice_id:06d}", issued.isoformat(),
                             (issued + timedelta(days=14)).isoformat(), f"{total:.2f}",
                             (issued + timedelta(days=rng.randint(3, 20))).isoformat(), "paid"))
    return [
        (schema, []),
        ("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", customers),
        ("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?, ?, ?)", invoices),
        ("INSERT INTO invoice_lines VALUES (?, ?, ?, ?, ?)", lines),
    ]


def _write_newsletter(path: Path, everyone) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "list", "subscribed_at", "signup_source", "consent_text_version",
                         "last_opened_at", "engagement_segment"])
        for person in everyone:
            if not person.in_newsletter:
                continue
            rng = rng_for("newsletter", person.id)
            opened = person.joined + timedelta(days=rng.randint(10, 900))
            writer.writerow([person.email, person.first_name, rng.choice(("Medlemsnytt", "Kursnytt")),
                             f"{person.joined.isoformat()}T12:00:00", rng.choice(("nettskjema", "kurspåmelding")),
                             "2023-01", f"{opened.isoformat()}T07:45:00",
                             rng.choice(("engasjert", "passiv", "ny"))])
    os.replace(temp, path)

"""The files kind's actions at connector level (plan -> apply -> prove): erasure and stopping a declared
processing remove the subject's lines from a CSV, JSON-lines or JSON file, rewritten atomically, every other
line left as it was."""
from __future__ import annotations

import codecs
import csv
import io
import json
import os
from datetime import date
from pathlib import Path

import pytest

from dsr.connectors.base import Action, ConnectorContext, ConnectorError, Identity, Plan
from dsr.connectors.files import FilesConnector
from dsr.connectors.registry import build_systems
from dsr.controller import load_systems_file
from tests.helpers.systems import system, write_systems

TODAY = date(2026, 12, 6)
KARI = "kari@example.no"
NEWSLETTER = {"key": "newsletter", "name": "The member newsletter", "bases": ["consent", "direct_marketing"]}

#: Kari's lines are the 2nd and 4th (one address in two spellings); Åse's holds a comma, Nils's a line break
ROWS = [("email", "first_name", "list"), ("ola@example.no", "Ola", "Medlemsnytt"), (KARI, "Kari", "Kursnytt"),
        ("anne@example.no", "Åse Ø", "Medlemsnytt, Kursnytt"), ("KARI@Example.no", "Kari", "Medlemsnytt"),
        ("nils@example.no", 'Nils "N"\r\nNilsen', "Kursnytt")]


def _csv(encoding: str = "utf-8", bom: bool = False, **dialect) -> bytes:
    out = io.StringIO()
    csv.writer(out, **dialect).writerows(ROWS)
    return (codecs.BOM_UTF8 if bom else b"") + out.getvalue().encode(encoding)


#: CSV files as different tools write them, and the settings that read them
CSV_FILES = {
    "excel": (_csv(), {}),  # as the demo writes it: CRLF, quotes only where needed
    "unix": (_csv(lineterminator="\n"), {}),
    "quote-all": (_csv(quoting=csv.QUOTE_ALL), {}),
    "semicolons-bom": (_csv(bom=True, delimiter=";"), {"delimiter": ";"}),
    "latin-1": (_csv("latin-1"), {"encoding": "latin-1"}),
    "by-hand": (b'email,first_name,list\n"ola@example.no",Ola,"Medlemsnytt"\r\nkari@example.no,Kari,Kursnytt\n'
                b"anne@example.no,  Anne ,Medlemsnytt\nKARI@Example.no,Kari,Medlemsnytt\r\n"
                b"nils@example.no,Nils,", {}),  # mixed line ends, stray quotes and spaces, no last line end
}


def build(folder: Path, *, fmt: str = "csv", processing: list | None = None, **settings) -> FilesConnector:
    block = system(key="newsletter", name="Newsletter list", kind="files", path="{instance}/list." + fmt,
                   format=fmt, collection="subscriptions", identity={"email": "email"},
                   **({"processing": processing} if processing else {}), **settings)
    context = ConnectorContext(instance_path=folder, storage_dir=folder, environ={})
    return build_systems(load_systems_file(write_systems(folder, block)), context)["newsletter"].connector


def _lines(raw: bytes) -> list[bytes]:
    return raw.splitlines(keepends=True)


@pytest.mark.parametrize("style", list(CSV_FILES))
def test_erasure_removes_the_subjects_csv_lines_and_leaves_every_other_line_byte_for_byte(tmp_path, style):
    original, settings = CSV_FILES[style]
    path = tmp_path / "list.csv"
    path.write_bytes(original)
    files = build(tmp_path, **settings)
    ref = files.locate(Identity(email=KARI))
    assert ref.keys == {"subscriptions.row": [2, 4]} and ref.emails == [KARI]
    plan = files.plan(ref, Action.ERASE, {}, TODAY)
    assert [(c.operation, c.count, c.keys) for c in plan.changes] == [("remove", 2, [KARI])]
    assert not files.prove(ref, plan).ok
    others = [row for row in files.rows() if row["email"].lower() != KARI]
    assert [row["email"] for row in others] == ["ola@example.no", "anne@example.no", "nils@example.no"]

    assert files.apply(ref, Plan.from_json(plan.to_json())) == 2
    kept = [line for line in _lines(original) if b"kari@example.no" not in line.lower()]
    assert path.read_bytes() == b"".join(kept)
    assert list(files.rows()) == others  # read back as they were (a Latin-1 file written as UTF-8 would not be)
    proof = files.prove(ref, plan)
    assert proof.ok and proof.found == {"subscriptions": 0} and proof.problems == []
    assert not files.locate(Identity(email=KARI)).found


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_erasure_removes_the_subjects_json_records_and_keeps_the_others(tmp_path, fmt):
    records = [{"email": "ola@example.no", "name": "Ola", "lists": ["a"]}, {"email": KARI, "name": "Kari"},
               {"email": "anne@example.no", "name": "Åse", "note": "Linje 1\nLinje 2"},
               {"email": "Kari@Example.NO", "name": "Kari", "lists": []}]
    path = tmp_path / f"list.{fmt}"
    if fmt == "jsonl":
        lines = (json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        path.write_text("".join(lines), encoding="utf-8")
    else:
        path.write_text(json.dumps(records, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    original = path.read_bytes()
    files = build(tmp_path, fmt=fmt)
    ref = files.locate(Identity(email=KARI))
    plan = files.plan(ref, Action.ERASE, {}, TODAY)
    assert files.apply(ref, plan) == 2 and files.prove(ref, plan).ok
    assert list(files.rows()) == [records[0], records[2]]
    if fmt == "jsonl":
        assert path.read_bytes() == b"".join(_lines(original)[0:1] + _lines(original)[2:3])


def test_the_rewrite_replaces_the_file_by_rename_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(CSV_FILES["excel"][0])
    path.chmod(0o640)
    files = build(tmp_path)
    before = path.stat()
    ref = files.locate(Identity(email=KARI))
    assert files.apply(ref, files.plan(ref, Action.ERASE, {}, TODAY)) == 2
    after = path.stat()
    assert after.st_ino != before.st_ino  # a new file renamed over the old one, not the old one rewritten
    assert after.st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv", "systems.toml"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_rewrite_leaves_the_original_whole_and_no_temporary_file(tmp_path, monkeypatch, failing):
    path = tmp_path / "list.csv"
    path.write_bytes(original := CSV_FILES["excel"][0])
    files = build(tmp_path)
    ref = files.locate(Identity(email=KARI))
    plan = files.plan(ref, Action.ERASE, {}, TODAY)

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(ConnectorError, match=r"^the file of system newsletter could not be rewritten \(OSError\)$") \
            as caught:
        files.apply(ref, plan)
    assert caught.value.retryable and KARI not in str(caught.value)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv", "systems.toml"]
    assert not files.prove(ref, plan).ok
    assert files.apply(ref, plan) == 2 and files.prove(ref, plan).ok  # the retry finishes the work


def test_a_second_apply_changes_nothing_and_leaves_the_file_alone(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(CSV_FILES["excel"][0])
    files = build(tmp_path)
    ref = files.locate(Identity(email=KARI))
    plan = files.plan(ref, Action.ERASE, {}, TODAY)
    assert files.apply(ref, plan) == 2
    after, content = path.stat(), path.read_bytes()
    assert files.apply(ref, plan) == 0 and files.prove(ref, plan).ok
    assert path.stat().st_ino == after.st_ino and path.read_bytes() == content


def test_the_plan_names_addresses_so_lines_that_moved_since_planning_are_still_the_ones_removed(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(CSV_FILES["unix"][0])
    files = build(tmp_path)
    ref = files.locate(Identity(email=KARI))
    plan = files.plan(ref, Action.ERASE, {}, TODAY)
    header, *rest = _lines(path.read_bytes())
    path.write_bytes(header + b"new@example.no,Ny,Kursnytt\n" + b"".join(rest))  # every line moved one down
    assert files.apply(ref, plan) == 2
    assert [row["email"] for row in files.rows()] == ["new@example.no", "ola@example.no", "anne@example.no",
                                                      "nils@example.no"]


def test_the_proof_fails_when_a_line_of_the_subject_comes_back(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(CSV_FILES["excel"][0])
    files = build(tmp_path)
    ref = files.locate(Identity(email=KARI))
    plan = files.plan(ref, Action.ERASE, {}, TODAY)
    files.apply(ref, plan)
    with open(path, "ab") as handle:
        handle.write(b"Kari@example.no,Kari,Kursnytt\r\n")  # re-imported from an old export
    proof = files.prove(ref, plan)
    assert not proof.ok and proof.found == {"subscriptions": 1}
    assert proof.problems == ["subscriptions: 1 line(s) of the subject still in the file"]


def test_stopping_the_declared_processing_removes_the_lines_and_another_processing_plans_nothing(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(CSV_FILES["excel"][0])
    files = build(tmp_path, processing=[NEWSLETTER])
    assert files.actions() == {Action.ERASE, Action.STOP} and [p.key for p in files.processing()] == ["newsletter"]
    ref = files.locate(Identity(email=KARI))
    assert files.plan(ref, Action.STOP, {"processing": ["chat_marketing"]}, TODAY).empty
    plan = files.plan(ref, Action.STOP, {"processing": ["chat_marketing", "newsletter"]}, TODAY)
    assert [(c.operation, c.count, c.text) for c in plan.changes] == [("remove", 2, "newsletter")]
    assert files.apply(ref, plan) == 2 and files.prove(ref, plan).ok
    assert files.apply(ref, plan) == 0 and not files.locate(Identity(email=KARI)).found
    assert build(tmp_path / "plain").actions() == {Action.ERASE}  # no processing declared: nothing to stop


def test_a_subject_the_file_does_not_hold_gets_empty_plans_and_the_file_is_not_touched(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(CSV_FILES["excel"][0])
    before = path.stat()
    files = build(tmp_path, processing=[NEWSLETTER])
    ref = files.locate(Identity(email="nobody@example.no"))
    assert not ref.found
    for action, details in ((Action.ERASE, {}), (Action.STOP, {"processing": ["newsletter"]})):
        plan = files.plan(ref, action, details, TODAY)
        assert plan.empty and files.apply(ref, plan) == 0 and files.prove(ref, plan).ok
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns

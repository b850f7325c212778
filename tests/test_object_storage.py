"""Bundles, spools and uploads in an S3-compatible object store (DSR_STORAGE_URL; issue 16), against
moto's S3 server on loopback: multipart uploads made while writing and visible only once whole, ranged
reads, and the access journey end to end with no bundle byte on the local disk."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
import pyzipper
import sqlalchemy as sa

from dsr import create_app, links
from dsr.bundle.writer import verify_bundle
from dsr.config import ConfigError
from dsr.db import get_db
from dsr.demo_systems.build import ensure_demo_data
from dsr.export.manual import complete_manual_task
from dsr.export.release import release_to_subject
from dsr.export.storage import get_store
from dsr.models import ExportBundle, Message, RequestStatus, Right, SubjectLocation, SubjectRequest
from dsr.storage import s3
from dsr.storage.s3 import S3Store
from tests.helpers.apps import built_app
from tests.helpers.export import KARI, approve, tasks_by_system
from tests.helpers.jobs import run_jobs
from tests.helpers.mail import code_in, sms_lines
from tests.helpers.objectstore import BUCKET, REGION, s3_config, start_s3_server
from tests.helpers.staff import enrolled_staff


@pytest.fixture
def s3_server(monkeypatch):
    server, endpoint = start_s3_server(monkeypatch)
    yield endpoint
    server.stop()


@pytest.fixture
def store(s3_server) -> S3Store:
    return S3Store(BUCKET, "unit", endpoint_url=s3_server, region=REGION)


def _keys(store: S3Store) -> list[str]:
    return [item["Key"] for item in store.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def _uploads(store: S3Store) -> list:
    return store.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def test_a_multipart_write_is_visible_only_once_whole_and_an_aborted_one_leaves_nothing(store, monkeypatch):
    monkeypatch.setattr(s3, "PART_SIZE", 5 * 1024 * 1024)  # S3's least part size: three parts and a tail
    data = bytes(range(256)) * (16 * 1024 * 1024 // 256 + 7)
    writer = store.writer("bundles/a.zip.sealed")
    for start in range(0, len(data), 1_000_000):
        writer.write(data[start:start + 1_000_000])
        assert len(writer.buffer) < s3.PART_SIZE  # one part in memory at most, never the file
    assert len(writer.parts) == 3 and _uploads(store)
    assert _keys(store) == []  # nothing visible while it is being written
    with pytest.raises(FileNotFoundError):
        store.open("bundles/a.zip.sealed")
    writer.commit()
    assert _keys(store) == ["unit/bundles/a.zip.sealed"] and not _uploads(store)
    assert store.size("bundles/a.zip.sealed") == len(data)

    with pytest.raises(RuntimeError), store.writer("bundles/b.zip.sealed") as failing:
        failing.write(data)  # three parts uploaded ...
        raise RuntimeError("the disk of the database filled up")  # ... then the writer fails
    assert _keys(store) == ["unit/bundles/a.zip.sealed"] and not _uploads(store)

    small = store.writer("spool/r1/t1-a1/contacts.jsonl.sealed")
    small.write(b"tiny")
    small.commit()  # under one part: a single PUT, at the end
    assert store.children("spool") == ["r1"] and store.children("spool/r1/t1-a1") == ["contacts.jsonl.sealed"]
    store.delete_prefix("spool/r1")
    assert store.children("spool") == []

    killed = store.writer("bundles/c.zip.sealed")
    killed.write(data)  # a worker SIGKILLed here leaves an incomplete upload, invisible
    assert len(_uploads(store)) == 1 and _keys(store) == ["unit/bundles/a.zip.sealed"]
    # (moto reports every upload as initiated in 2010, so the age cut-off itself is not tried here)
    assert store.sweep_incomplete(older_than_seconds=86400) == 1 and not _uploads(store)


def test_reads_fetch_the_object_in_ranges(store, monkeypatch):
    monkeypatch.setattr(s3, "RANGE_SIZE", 1000)
    data = bytes(range(256)) * 20  # 5120 bytes
    with store.writer("bundles/r.bin") as writer:
        writer.write(data)
    ranges = []
    client = store.client
    original = client.get_object

    def spy(**kwargs):
        ranges.append(kwargs["Range"])
        return original(**kwargs)

    monkeypatch.setattr(client, "get_object", spy)
    with store.open("bundles/r.bin") as reader:
        assert reader.read(1500) == data[:1500]  # across a range boundary
        assert reader.read() == data[1500:]
        assert reader.read(10) == b""
    assert ranges == [f"bytes={start}-{min(start + 999, len(data) - 1)}" for start in range(0, len(data), 1000)]


@pytest.fixture
def s3_app(app_config, chat, smtp, s3_server):
    """The demo app with its export files in the S3 server."""
    app_config.update(s3_config(s3_server))
    ensure_demo_data(Path(app_config["INSTANCE_PATH"]))
    with built_app(app_config) as application:
        yield application


def test_the_access_journey_keeps_every_bundle_byte_in_the_object_store(s3_app, smtp, tmp_path):
    app = s3_app
    with app.app_context(), get_db(app).session() as session:
        case = SubjectRequest(email=KARI, status=RequestStatus.OPEN, right=Right.ACCESS, language="en",
                              identity_method="email_code+sms_code")
        session.add(case)
        session.commit()
        session.add(SubjectLocation(request_id=case.id, system_key="crm", found=True,  # a phone on file
                                    ref={"system_key": "crm", "keys": {"contacts.id": [1]},
                                         "phones": ["+4791234789"], "emails": [KARI]}))
        session.commit()
        approve(session, case)
        run_jobs(app)
        store = get_store(app)
        assert store.children(f"spool/r{case.id}")  # each system's spool went to the store
        upload = io.BytesIO(b"From: kari.nordmann@example.no\nSubject: Faktura\n\nHei!\n")
        upload.filename = "mailbox.mbox"
        staff, _ = enrolled_staff(session, app)
        complete_manual_task(session, tasks_by_system(session, case.id)["mailbox"].id, staff.id,
                             nothing_found=False, upload=upload)
        session.commit()
        run_jobs(app)
        session.refresh(case)
        assert case.status is RequestStatus.READY_FOR_REVIEW
        bundle = session.scalar(sa.select(ExportBundle).where(ExportBundle.request_id == case.id))
        assert store.children("bundles") == [bundle.storage_name]
        assert store.children(f"spool/r{case.id}")  # kept for the review (a redaction, a delta answer)
        release_to_subject(session, case.id, staff.id)
        session.commit()
        run_jobs(app)  # the "your data is ready" letter; the digests, then the spools go
        assert not store.children(f"spool/r{case.id}")

        browser = app.test_client()
        ready = session.scalar(sa.select(Message).where(Message.request_id == case.id,
                                                        Message.template == "data_ready"))
        with app.test_request_context():
            token = links.case_token(case.public_id, ready.id)  # the letter's link opens the case once
        assert browser.post(f"/case/open/{token}").status_code == 303
        url = f"/case/{case.public_id}/download/{bundle.download_id}"
        assert browser.post(url, data={"protect": "1"}).status_code == 303
        run_jobs(app)
        # opened with e-mail + SMS: the download code goes to the phone on file too
        code = code_in([line for line in sms_lines(app) if "password" not in line][-1])
        protected = browser.post(f"{url}/code", data={"code": code})
        assert protected.status_code == 200 and int(protected.headers["Content-Length"]) == len(protected.data)
        assert store.children("tmp") == []  # the staged protected copy went with its stream
        download = browser.post(url)  # within the fresh window: no new code
        assert download.status_code == 200 and len(download.data) == bundle.size_bytes
        run_jobs(app)
        password = re.search(r"\b([a-z2-9]{5}(?:-[a-z2-9]{5}){3})\b",
                             [line for line in sms_lines(app) if "password" in line][-1]).group(1)
        assert session.scalars(sa.select(Message).where(Message.template == "download_password")).one()

    plain = download.data
    with pyzipper.AESZipFile(io.BytesIO(protected.data)) as outer:
        outer.setpassword(password.encode())
        assert outer.read("bundle.zip") == plain
    sealed = store.client.get_object(Bucket=BUCKET, Key=f"portal/bundles/{bundle.storage_name}")["Body"].read()
    # No bundle byte on the local disk: nothing under the storage folder, and no file of the instance
    # holds a slice of the stored (sealed) object or of the plaintext bundle.
    instance = Path(app.instance_path)
    assert not (Path(app.config["STORAGE_DIR"])).exists() or not any(Path(app.config["STORAGE_DIR"]).rglob("*"))
    slices = [sealed[100:4196], sealed[-4096:], plain[:4096], plain[-4096:]]
    for path in [p for p in tmp_path.rglob("*") if p.is_file()] + [p for p in instance.rglob("*") if p.is_file()]:
        content = path.read_bytes()
        assert not any(piece in content for piece in slices), path
    verified = tmp_path / "verify" / "downloaded.zip"
    verified.parent.mkdir()
    verified.write_bytes(plain)
    assert verify_bundle(verified).ok
    assert zipfile.ZipFile(io.BytesIO(plain)).read("data/mailbox/upload-mailbox.mbox").startswith(b"From: kari")


def test_a_bad_storage_url_is_refused_at_first_use(app_config):
    app_config["STORAGE_URL"] = "https://example.com/bucket"
    app = create_app(app_config)
    with app.app_context(), pytest.raises(ConfigError, match="s3://bucket/prefix"):
        get_store(app)

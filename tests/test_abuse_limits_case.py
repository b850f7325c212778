"""Per-address abuse limits count one address however its letters are cased (issue 13, finding 6): mail
servers deliver `Victim@`, `VICTIM@` and `victim@` to one mailbox, so they share one quota."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dsr import ratelimit
from dsr.models import SubjectRequest
from tests.helpers.jobs import run_jobs
from tests.helpers.people import file_request, use_directory

VARIANTS = ["victim@example.org", "Victim@example.org", "VICTIM@Example.org", "vIcTiM@EXAMPLE.ORG"]


@pytest.fixture
def app_config(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    return app_config


def test_case_variants_of_one_address_share_the_intake_quota(app, client, session):
    app.config["RATE_LIMITS"] = {"intake_ip": "100/60", "intake_address": "3/86400"}
    statuses = [file_request(client, "access", email=address).status_code for address in VARIANTS]
    assert statuses == [303, 303, 303, 429]
    assert session.scalar(sa.select(sa.func.count()).select_from(SubjectRequest)) == 3


def test_case_variants_share_the_code_entry_and_resend_quotas(app, client, session):
    app.config["RATE_LIMITS"] = {"intake_ip": "100/60", "intake_address": "100/60"}
    for address in VARIANTS[:2]:
        assert file_request(client, "access", email=address).status_code == 303
    run_jobs(app)
    first, second = session.scalars(sa.select(SubjectRequest).order_by(SubjectRequest.id)).all()
    assert first.email != second.email  # stored as typed: the local part may be case-sensitive

    app.config["RATE_LIMITS"] = {"code_entry_ip": "100/600", "code_entry_address": "1/600"}
    assert client.post(f"/verify/{first.public_id}", data={"code": "000001"}).status_code == 400
    other = app.test_client()
    assert other.post(f"/verify/{second.public_id}", data={"code": "000001"}).status_code == 429

    app.config.update(CODE_RESEND_SECONDS=0, RATE_LIMITS={"resend_ip": "100/3600", "resend_address": "1/86400"})
    assert client.post(f"/verify/{first.public_id}/resend").status_code != 429
    assert other.post(f"/verify/{second.public_id}/resend").status_code == 429


@pytest.mark.parametrize("name", sorted(ratelimit.ADDRESS_LIMITS))
def test_every_per_address_limit_is_keyed_on_the_case_folded_address(app, name):
    app.config["RATE_LIMITS"] = {name: "1/3600"}
    with app.app_context():
        assert ratelimit.hit(name, "Kari.Nordmann@Example.org").allowed
        assert not ratelimit.hit(name, " kari.nordmann@example.org").allowed
        assert ratelimit.hit(name, "ola@example.org").allowed

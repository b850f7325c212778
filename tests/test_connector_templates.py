"""Templates switched on by name: merged under the entry's own settings, checked at start-up with the file,
line and key (the template's own file when the setting came from it); `flask dsr systems list` and
`check`; and the Google Analytics client id on the request form only while that template is on."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsr.connectors import templates
from dsr.connectors.base import ConnectorContext
from dsr.connectors.registry import build_systems
from dsr.controller import SystemsFileError, load_systems_file
from dsr.models import SystemCanary
from tests.helpers.systems import controller, system
from tests.helpers.vendors import VENDORS_FILE


def build(tmp_path: Path, text: str):
    path = tmp_path / "systems.toml"
    path.write_text(controller() + text)
    return build_systems(load_systems_file(path), ConnectorContext(tmp_path, tmp_path, {}))


def test_every_shipped_template_is_used_by_the_vendors_example_and_validates(tmp_path):
    systems = build_systems(load_systems_file(VENDORS_FILE), ConnectorContext(tmp_path, tmp_path, {}))
    assert {system.template for system in systems.values()} == set(templates.available())
    for template in templates.available().values():
        assert template.docs.startswith("https://") and template.title


def test_an_entry_overrides_the_template_key_by_key(tmp_path):
    systems = build(tmp_path, '''
[[systems]]
key = "newsletter"
template = "mailchimp"
name = "Nyhetsbrevet"
base_url = "https://us21.api.mailchimp.com/3.0"
vars = { list_id = "abc123" }
rate_limit = 2

[systems.facts]
retention = "Until you unsubscribe, then 30 days"
''')
    connector = systems["newsletter"].connector
    assert systems["newsletter"].name == "Nyhetsbrevet" and connector.settings["rate_limit"] == 2
    assert connector.facts.retention == "Until you unsubscribe, then 30 days"
    assert connector.facts.purposes[0] == "Sending you our newsletter"  # the other facts are the template's
    assert connector.settings["facts_nb"]["retention"].startswith("Til du melder deg av")


@pytest.mark.parametrize(("entry", "key", "problem"), [
    ('template = "salesforce"', "systems[0].template", "must be one of"),
    ('template = "mailchimp"\nbase_url = "https://us21.api.mailchimp.com/3.0"', "systems[0].vars.list_id",
     "template mailchimp needs it: the audience id"),
    ('template = "zendesk"', "systems[0].base_url", "template zendesk needs it"),
    ('template = "hubspot"\nvars = { marketing_subscription_id = "1" }\n[systems.locate]\nmethod = "PUT"',
     "systems[0].locate.method", "must be one of ['GET', 'POST']"),
])
def test_a_wrong_entry_names_the_key_and_the_line_in_the_systems_file(tmp_path, entry, key, problem):
    text = f'\n[[systems]]\nkey = "x"\n{entry}\n'
    with pytest.raises(SystemsFileError) as caught:
        build(tmp_path, text)
    assert caught.value.key == key and problem in caught.value.problem
    assert caught.value.path.endswith("systems.toml") and caught.value.line > controller().count("\n")


def test_a_wrong_setting_that_came_from_a_template_points_at_the_templates_file_and_line(tmp_path, monkeypatch):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "shop.toml").write_text('name = "Shop"\nkind = "http"\nbase_url = "https://shop.example/api"\n\n'
                                      '[template]\ntitle = "Shop"\n\n[locate]\npath = "people"\nkey = "id"\n\n'
                                      '[facts]\npurposes = ["x"]\nlegal_basis = "x"\ncategories = ["x"]\n'
                                      'recipients = ["x"]\nretention = "x"\nsource = "x"\n')
    monkeypatch.setattr(templates, "TEMPLATE_DIR", folder)
    templates.available.cache_clear()
    try:
        with pytest.raises(SystemsFileError) as caught:
            build(tmp_path, '\n[[systems]]\nkey = "shop"\ntemplate = "shop"\n')
    finally:
        templates.available.cache_clear()
    error = caught.value
    assert (Path(error.path).name, error.line) == ("shop.toml", 9)
    assert error.key == "systems[0].locate.path (from template shop)" and "starting with /" in error.problem


@pytest.mark.parametrize(("change", "key"), [
    ('[systems.locate]\npath = "/people"\nkey = "id"\nbody = { q = "{email}" }', "locate.body"),
    ('auth = { kind = "kerberos" }\n[systems.locate]\npath = "/people"\nkey = "id"', "auth.kind"),
    ('auth = { kind = "oauth2_client_credentials", client_id_env = "A", client_secret_env = "B" }\n'
     '[systems.locate]\npath = "/people"\nkey = "id"', "auth.token_url"),
    ('[systems.locate]\npath = "/lists/{var:list}/people"\nkey = "id"', "locate.path"),
    ('headers = { Authorization = "Bearer x" }\n[systems.locate]\npath = "/people"\nkey = "id"',
     "headers.Authorization"),
    ('[systems.locate]\npath = "/people"\nkey = "id"\n[[systems.collections]]\nname = "invoices"\npath = "/i/{key}"\n'
     'hold = "bookkeeping"\n[[systems.holds]]\nkey = "bookkeeping"\nground = "x"\nyears = 5',
     "collections[0].hold_date_field"),
    ('[systems.locate]\npath = "/people"\nkey = "id"\n[systems.actions]\n'
     'erase = [{ method = "DELETE", path = "/t/{id}", each = "tickets" }]', "actions.erase[0].each"),
    ('[systems.locate]\npath = "/people"\nkey = "id"\n[[systems.collections]]\nname = "tickets"\npath = "/t/{key}"\n'
     '[systems.by_hand.erase]\nsteps = ["Delete it"]\nlist = "messages"\nitem = "{subject}"', "by_hand.erase.list"),
])
def test_new_http_settings_are_checked_at_start_up(tmp_path, change, key):
    text = (f'\n[[systems]]\nkey = "x"\nname = "X"\nkind = "http"\nbase_url = "https://x.example/api"\n{change}\n'
            + system(key="y", name="Y", kind="manual", instructions="Look").split("[systems.facts]")[1]
            .join(("[systems.facts]", "")))
    with pytest.raises(SystemsFileError) as caught:
        build(tmp_path, text)
    assert caught.value.key == f"systems[0].{key}"


# ---------------------------------------------------------------------- the officer's commands


def test_systems_list_shows_the_templates_and_which_are_on(vendor_app):
    result = vendor_app.test_cli_runner().invoke(args=["dsr", "systems", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.search(r"^  hubspot\s+on: crm\s+HubSpot CRM", "\n".join(lines), re.M)
    assert re.search(r"^  meta_pixel\s+on: meta_pixel", "\n".join(lines), re.M)
    assert re.search(r"^  analytics\s+ga4\s+google_analytics\s+canary canary@fjordnett.example", result.output, re.M)


def test_systems_list_says_off_when_no_entry_uses_a_template(app):
    result = app.test_cli_runner().invoke(args=["dsr", "systems", "list"])
    assert all(re.search(rf"^  {name}\s+off\s", result.output, re.M) for name in templates.available())
    assert re.search(r"^  support_chat\s+http\s+-\s+no canary", result.output, re.M)


def test_systems_check_reports_each_step_with_status_counts_and_time(vendor_app, vendor_session, vendors):
    runner = vendor_app.test_cli_runner()
    result = runner.invoke(args=["dsr", "systems", "check", "crm"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^  lookup\s+POST\s+200\s+\d+ ms$", result.output, re.M)
    assert re.search(r"^  contact\s+GET\s+200\s+\d+ ms$", result.output, re.M)
    assert "located: yes (1 record(s))" in result.output
    assert re.search(r"^  contact: 1 record\(s\); fields: .*email", result.output, re.M)
    assert "canary@" not in result.output  # counts and field names, no values

    result = runner.invoke(args=["dsr", "systems", "check", "mailbox", "--no-export", "--save"])
    assert result.exit_code == 0 and re.search(r"^  token\s+POST\s+200", result.output, re.M), result.output
    assert vendor_session.scalar(sa.select(SystemCanary).where(SystemCanary.system_key == "mailbox")).ok

    vendors["tripletex"].throttle, vendors["tripletex"].retry_after = 10, 0
    result = runner.invoke(args=["dsr", "systems", "check", "accounting"])
    assert result.exit_code == 1 and "ERROR system accounting answered lookup with HTTP 429" in result.output
    assert len(re.findall(r"^  lookup\s+GET\s+429", result.output, re.M)) == 4  # asked again 3 times, then left

    result = runner.invoke(args=["dsr", "systems", "check", "newsletter", "--email", "nobody@example.no"])
    assert result.exit_code == 1 and "located: NO" in result.output and "not found" in result.output
    assert runner.invoke(args=["dsr", "systems", "check", "meta_pixel"]).output.startswith("meta_pixel: a person")
    assert runner.invoke(args=["dsr", "systems", "check", "nope"]).exit_code == 2


def test_the_request_form_asks_for_the_analytics_client_id_only_while_that_template_is_on(vendor_app):
    page = vendor_app.test_client().get("/request/erasure?lang=nb").get_data(as_text=True)
    assert 'name="ga_client_id"' in page and "_ga" in page and "Klient-ID-en din i Google Analytics" in page
    assert 'name="ga_client_id"' not in vendor_app.test_client().get("/request/rectification").get_data(as_text=True)

    answers = {"email": "kari@example.no", "ga_client_id": "GA1.1.1234567890.1700000000"}
    page = vendor_app.test_client().post("/request/erasure?lang=en", data=answers).get_data(as_text=True)
    assert "Check your answers" in page and "1234567890.1700000000" in page and "GA1.1." not in page
    page = vendor_app.test_client().post("/request/erasure?lang=en", data={**answers, "ga_client_id": "my cookie"})
    assert "Enter the value of the _ga cookie" in page.get_data(as_text=True)


def test_without_a_google_analytics_system_the_form_does_not_ask(client):
    assert 'name="ga_client_id"' not in client.get("/request/erasure").get_data(as_text=True)

"""Configuration precedence, generated keys, the production key guard, and systems.toml errors."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from dsr import REPO_ROOT, create_app
from dsr.config import ConfigError, ensure_instance_secrets
from dsr.controller import SystemsFileError, load_systems_file


def test_precedence_defaults_then_instance_file_then_environment_then_test_dict(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text("BASE_URL = 'https://from-instance.example'\nPROXY_HOPS = 3\n"
                                        "MAIL_FROM = 'instance@example.no'\n")
    monkeypatch.setenv("DSR_PROXY_HOPS", "1")
    monkeypatch.setenv("DSR_MAIL_FROM", "env@example.no")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "MAIL_FROM": "test@example.no"})
    assert app.config["JOB_TIMEOUT"] == 600  # built-in default
    assert app.config["BASE_URL"] == "https://from-instance.example"  # instance/config.py
    assert app.config["PROXY_HOPS"] == 1  # environment beats the instance file, typed as int
    assert app.config["MAIL_FROM"] == "test@example.no"  # the test dict beats everything
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'dsr.sqlite3'}"


def test_an_environment_value_of_the_wrong_type_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DSR_JOB_TIMEOUT", "ten minutes")
    with pytest.raises(ConfigError, match="DSR_JOB_TIMEOUT"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


def test_first_start_writes_private_random_keys_once(tmp_path):
    path = ensure_instance_secrets(tmp_path)
    first = json.loads(path.read_text())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first["SECRET_KEY"]) >= 32 and first["ENCRYPTION_KEY"] != first["SIGNING_KEY"]
    ensure_instance_secrets(tmp_path)
    assert json.loads(path.read_text()) == first  # a second start reuses them
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SECRET_KEY"] == first["SECRET_KEY"]


@pytest.mark.parametrize("key", [None, "dev", "short-key"])
def test_production_refuses_to_serve_with_a_missing_or_weak_key(tmp_path, key):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "production", "SECRET_KEY": key})
    response = app.test_client().get("/")
    assert response.status_code == 503
    assert b"DSR_SECRET_KEY" in response.data


def test_production_serves_with_a_strong_key_and_sets_hsts(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "production", "SECRET_KEY": "k" * 10 + "x" * 40,
                      "AUDIT_KEY": "a" * 43})
    response = app.test_client().get("/", base_url="https://portal.example")
    assert response.status_code == 200
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_the_example_systems_file_describes_a_norwegian_controller():
    controller = load_systems_file(REPO_ROOT / "instance" / "systems.example.toml").controller
    assert controller.authority.name == "Datatilsynet"
    assert controller.timezone == "Europe/Oslo" and controller.holiday_country == "NO"
    assert set(controller.languages) == {"en", "nb"}


GOOD = (REPO_ROOT / "instance" / "systems.example.toml").read_text()


@pytest.mark.parametrize(("edit", "line_text", "key"), [
    (lambda t: t.replace('timezone = "Europe/Oslo"', 'timezone = "Europe/Osloo"'), 'timezone = "Europe/Osloo"',
     "controller.timezone"),
    (lambda t: t.replace('holiday_country = "NO"', 'holiday_country = "XX"'), 'holiday_country = "XX"',
     "controller.holiday_country"),
    (lambda t: t.replace('languages = ["nb", "en"]', 'languages = ["nb", "de"]'), 'languages = ["nb", "de"]',
     "controller.languages"),
    (lambda t: t.replace('dpo_email = "dpo@fjordnett.example"', "dpo_email = 42"), "dpo_email = 42",
     "controller.dpo_email"),
])
def test_a_bad_value_names_file_line_and_key(tmp_path, edit, line_text, key):
    path = tmp_path / "systems.toml"
    text = edit(GOOD)
    path.write_text(text)
    expected_line = text.splitlines().index(line_text) + 1
    with pytest.raises(SystemsFileError) as caught:
        load_systems_file(path)
    assert caught.value.key == key
    assert caught.value.line == expected_line
    assert str(path) in str(caught.value) and f"line {expected_line}" in str(caught.value)


def test_broken_toml_syntax_names_the_line(tmp_path):
    path = tmp_path / "systems.toml"
    text = GOOD.replace('name = "Datatilsynet"', 'name = "Datatilsynet')
    path.write_text(text)
    line = text.splitlines().index('name = "Datatilsynet') + 1
    with pytest.raises(SystemsFileError, match=rf"line {line}, key '\(syntax\)': not valid TOML"):
        load_systems_file(path)


def test_start_up_stops_with_a_clear_message_for_a_malformed_systems_file(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "systems.toml").write_text(GOOD.replace('timezone = "Europe/Oslo"', "timezone = 5"))
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "dsr", "db-upgrade"], cwd=REPO_ROOT,
                            env={**os.environ, "DSR_INSTANCE_PATH": str(instance)}, capture_output=True, text=True)
    assert result.returncode != 0
    assert f"{instance / 'systems.toml'}, line 13, key 'controller.timezone'" in result.stderr


def test_cli_utilities_on_a_fresh_clone_explain_instead_of_crashing(tmp_path):
    env = {**os.environ, "DSR_INSTANCE_PATH": str(tmp_path / "fresh")}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "dsr", "audit-verify"], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "flask dsr db-upgrade" in result.stderr and "Traceback" not in result.stderr

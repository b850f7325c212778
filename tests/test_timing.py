"""SECURITY-PLAN S7 and S32, by the clock: whether an account or a subject is known must not show in
how long the answer takes. 300 timed trials per class, measured in-process, the classes interleaved
so that drift on a shared machine hits them alike; abuse limits raised by configuration for this.
(The byte-identical answers themselves are tested in test_staff_auth and test_intake_security.)"""
from __future__ import annotations

import statistics
import time

import pytest

from dsr import create_app
from tests.helpers.people import KARI, file_request, use_directory
from tests.helpers.staff import enrolled_staff

pytestmark = [pytest.mark.timing, pytest.mark.slow]
TRIALS = 300
UNLIMITED = "1000000/60"


def _timed(post) -> float:
    started = time.perf_counter()
    response = post()
    elapsed = time.perf_counter() - started
    assert response.status_code in (200, 302, 303), response.status_code
    return elapsed


def _ms(medians: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds * 1000:.2f} ms" for name, seconds in medians.items())


def _interleaved(classes: dict, trials: int = TRIALS) -> dict[str, float]:
    """Median seconds per class; each round runs every class once, in a rotating order."""
    times: dict[str, list[float]] = {name: [] for name in classes}
    names = list(classes)
    for _ in range(3):  # warm-up: first-use costs (templates, statement caches) are not what is measured
        for name in names:
            classes[name]()
    for round_number in range(trials):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(_timed(classes[name]))
    return {name: statistics.median(values) for name, values in times.items()}


def test_s7_unknown_account_and_wrong_password_take_the_same_time(app, session):
    app.config["RATE_LIMITS"] = {"login_account": UNLIMITED, "login_ip": UNLIMITED}
    user, _ = enrolled_staff(session, app)
    session.commit()
    client = app.test_client()
    medians = _interleaved({
        "wrong password": lambda: client.post("/staff/login", data={"email": user.email, "password": "not it at all"}),
        "unknown account": lambda: client.post("/staff/login", data={"email": "nobody@fjordnett.example",
                                                                     "password": "not it at all"}),
    })
    known, unknown = medians["wrong password"], medians["unknown account"]
    print(f"S7 medians: {_ms(medians)}")
    assert abs(known - unknown) / min(known, unknown) < 0.10, medians  # S7: |Δ median| < 10 %


def test_s32_held_not_held_and_bad_domain_addresses_take_the_same_time_to_file(app_config, tmp_path):
    use_directory(app_config, tmp_path / "systems")
    app = create_app(app_config)
    app.config["RATE_LIMITS"] = {"intake_ip": UNLIMITED, "intake_address": UNLIMITED}
    client = app.test_client()
    medians = _interleaved({
        "held": lambda: file_request(client, email=KARI["email"]),
        "not held": lambda: file_request(client, email="nobody.at.all@example.org"),
        "bad domain": lambda: file_request(client, email="someone@ingen-slik-doemene-7c1.no"),
    })
    spread = max(medians.values()) - min(medians.values())
    print(f"S32 medians: {_ms(medians)}")
    assert spread < 0.005, medians  # S32: |Δ median| < 5 ms between any two classes

"""Abuse limits hold on Redis, fall back to memory when Redis is down, and are configuration."""
from __future__ import annotations

import pytest
import time_machine

from dsr import create_app, ratelimit
from dsr.queue.broker import get_redis


def test_the_limit_holds_and_says_when_to_come_back(app):
    app.config["RATE_LIMITS"] = {"intake_ip": "3/3600"}
    with app.app_context():
        decisions = [ratelimit.hit("intake_ip", "203.0.113.7") for _ in range(4)]
        other = ratelimit.hit("intake_ip", "203.0.113.8")
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert 0 < decisions[-1].retry_after <= 3600
    assert other.allowed  # counted per key


def test_keys_never_reach_redis_in_clear(app):
    with app.app_context():
        ratelimit.hit("intake_address", "kari@example.org")
    keys = [k.decode() for k in get_redis(app).keys("*:rl:*")]
    assert keys and not any("kari" in k for k in keys)


def test_a_redis_outage_falls_back_to_memory_without_errors(app_config):
    app_config.update(REDIS_URL="unix:///nonexistent/redis.sock", RATE_LIMITS={"login_ip": "2/60"})
    app = create_app(app_config)
    with app.app_context():
        decisions = [ratelimit.hit("login_ip", "198.51.100.1").allowed for _ in range(3)]
    assert decisions == [True, True, False]


def test_limits_come_from_the_environment_string():
    assert ratelimit.parse_limits("intake_ip=50/3600 login_ip=100/60") == {"intake_ip": "50/3600",
                                                                           "login_ip": "100/60"}
    with pytest.raises(ValueError, match="COUNT/SECONDS"):
        ratelimit.parse_limits("intake_ip=lots")


@pytest.mark.parametrize("redis_up", [True, False])
def test_a_burst_across_a_window_boundary_is_still_limited(app_config, redis_up):
    if not redis_up:
        app_config["REDIS_URL"] = "unix:///nonexistent/redis.sock"
    app_config["RATE_LIMITS"] = {"login_account": "5/60"}
    app = create_app(app_config)
    with app.app_context(), time_machine.travel(1_800_000_059.5, tick=False) as clock:
        first = [ratelimit.hit("login_account", "staff-7").allowed for _ in range(5)]
        clock.shift(1.0)  # a new minute on the wall clock, but only one second later
        sixth = ratelimit.hit("login_account", "staff-7")
        clock.shift(59.5)  # the first five have aged out
        later = ratelimit.hit("login_account", "staff-7")
    assert first == [True] * 5 and not sixth.allowed and 1 <= sixth.retry_after <= 60 and later.allowed

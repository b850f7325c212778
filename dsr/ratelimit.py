"""Abuse limits for intake, code entry, resend and staff login.

Counters live in Redis (shared by every web process) in fixed windows; when Redis does not
answer, a per-process in-memory counter takes over, so an outage never turns into errors.
Keys are keyed HMACs: an e-mail address or IP used as a key never reaches Redis in clear.

Limits are configuration: `RATE_LIMITS` maps a name to "COUNT/SECONDS" (DSR_RATE_LIMITS as
"name=COUNT/SECONDS name2=..."), so a load test can raise them while a test proves they hold.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis
from flask import Flask, current_app

from dsr.broker import get_redis, redis_may_be_up, remember_redis_down
from dsr.crypto import keyed_hmac

# Defaults; `DSR_RATE_LIMITS` / the RATE_LIMITS config dict override them one by one.
DEFAULT_LIMITS: dict[str, str] = {
    "intake_ip": "5/3600",  # requests filed per IP per hour
    "intake_address": "3/86400",  # requests filed per e-mail address per day
    "code_entry_ip": "30/600",  # codes typed per IP per 10 minutes (each code also has 5 attempts)
    "code_entry_address": "20/3600",  # codes typed for one e-mail address's requests per hour
    "resend_ip": "10/3600",  # new codes asked for per IP per hour
    "resend_address": "6/86400",  # new codes asked for one e-mail address per day
    "reply_ip": "30/3600",  # messages subjects write on their case pages per IP per hour
    "login_account": "5/60",  # staff password attempts per account per minute
    "login_ip": "20/60",  # staff password attempts per IP per minute
    "download_ip": "30/3600",  # bundle downloads per IP per hour
}


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # seconds until the window ends (0 when allowed)


def parse_limits(text: str) -> dict[str, str]:
    """'intake_ip=5/3600 login_ip=20/60' -> {"intake_ip": "5/3600", ...}"""
    limits: dict[str, str] = {}
    for part in text.replace(",", " ").split():
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"DSR_RATE_LIMITS: {part!r} is not name=COUNT/SECONDS")
        _parse(value, name)
        limits[name] = value
    return limits


def _parse(value: str, name: str) -> Limit:
    count, sep, seconds = str(value).partition("/")
    try:
        limit = Limit(int(count), int(seconds))
    except ValueError:
        raise ValueError(f"rate limit {name}: {value!r} is not COUNT/SECONDS") from None
    if not sep or limit.count < 1 or limit.seconds < 1:
        raise ValueError(f"rate limit {name}: {value!r} is not COUNT/SECONDS with both at least 1")
    return limit


def limit_for(app: Flask, name: str) -> Limit:
    configured = app.config.get("RATE_LIMITS") or {}
    if isinstance(configured, str):
        configured = parse_limits(configured)
    value = configured.get(name, DEFAULT_LIMITS.get(name))
    if value is None:
        raise KeyError(f"no rate limit named {name!r}")
    return _parse(value, name)


class _MemoryCounters:
    """The fallback: one process's fixed-window counters (pruned as windows pass)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[str, tuple[int, float]] = {}

    def hit(self, key: str, window_ends: float) -> int:
        now = time.time()
        with self.lock:
            if len(self.counts) > 50_000:
                self.counts = {k: v for k, v in self.counts.items() if v[1] > now}
            count, ends = self.counts.get(key, (0, window_ends))
            if ends <= now:
                count, ends = 0, window_ends
            self.counts[key] = (count + 1, ends)
            return count + 1


def _memory(app: Flask) -> _MemoryCounters:
    return app.extensions.setdefault("dsr.ratelimit_memory", _MemoryCounters())


def hit(name: str, key: str, app: Flask | None = None) -> Decision:
    """Count one attempt of `name` by `key` (an IP, an address, an account id) and decide."""
    app = app or current_app._get_current_object()
    limit = limit_for(app, name)
    now = time.time()
    window = int(now // limit.seconds)
    window_ends = (window + 1) * limit.seconds
    counter_key = f"{app.config['QUEUE_PREFIX']}:rl:{name}:{window}:{keyed_hmac('ratelimit', key, app)[:32]}"
    count = None
    if redis_may_be_up(app):
        try:
            pipe = get_redis(app).pipeline()
            pipe.incr(counter_key)
            pipe.expire(counter_key, limit.seconds + 1)
            count = int(pipe.execute()[0])
        except (redis.RedisError, OSError):
            remember_redis_down(app)
    if count is None:
        count = _memory(app).hit(counter_key, window_ends)
    if count <= limit.count:
        return Decision(True, 0)
    return Decision(False, max(1, int(window_ends - now + 0.999)))

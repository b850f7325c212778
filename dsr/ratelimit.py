"""Abuse limits for intake, code entry, resend and staff login.

Each limit is a sliding window: the attempts of the last SECONDS are counted exactly (a sorted
set per key in Redis, updated atomically by a small Lua script and shared by every web process),
so no burst slips through at a window boundary. When Redis does not answer, a per-process
in-memory log takes over, so an outage never turns into errors.
Keys are keyed HMACs: an e-mail address or IP used as a key never reaches Redis in clear. Limits
counted per e-mail address (ADDRESS_LIMITS) key on the case-folded address: mail servers deliver
`Victim@` and `victim@` to one mailbox, so case variants must not get a quota each.

Limits are configuration: `RATE_LIMITS` maps a name to "COUNT/SECONDS" (DSR_RATE_LIMITS as
"name=COUNT/SECONDS name2=..."), so a load test can raise them while a test proves they hold.
"""
from __future__ import annotations

import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

import redis
from flask import Flask, current_app

from dsr.crypto import keyed_hmac
from dsr.queue.broker import get_redis, redis_may_be_up, remember_redis_down

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
    "mfa_account": "5/60",  # staff TOTP codes typed per account per minute
    "download_ip": "30/3600",  # bundle downloads per IP per hour
}


#: limits whose key is an e-mail address (callers pass it as typed or as stored)
ADDRESS_LIMITS = frozenset({"intake_address", "code_entry_address", "resend_address", "login_account"})


def address_key(address: str) -> str:
    return address.strip().casefold()


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


class _MemoryLog:
    """The fallback: one process's sliding-window logs (pruned as attempts age out)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.logs: dict[str, deque[float]] = {}

    def hit(self, key: str, limit: Limit, now: float) -> tuple[bool, float]:
        with self.lock:
            if len(self.logs) > 50_000:
                self.logs = {k: v for k, v in self.logs.items() if v and v[-1] > now - 86_400}
            log = self.logs.setdefault(key, deque())
            while log and log[0] <= now - limit.seconds:
                log.popleft()
            if len(log) < limit.count:
                log.append(now)
                return True, 0.0
            return False, log[0] + limit.seconds - now


# Atomic check-and-count: drop attempts older than the window, refuse when full (without counting
# the refused attempt, so a flood cannot push the window forever), else record this attempt.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1]))}
"""


def _memory(app: Flask) -> _MemoryLog:
    return app.extensions.setdefault("dsr.ratelimit_memory", _MemoryLog())


def _script(app: Flask):
    script = app.extensions.get("dsr.ratelimit_script")
    if script is None:
        script = app.extensions["dsr.ratelimit_script"] = get_redis(app).register_script(_SLIDING_WINDOW)
    return script


def hit(name: str, key: str, app: Flask | None = None) -> Decision:
    """Count one attempt of `name` by `key` (an IP, an address, an account id) and decide."""
    app = app or current_app._get_current_object()
    limit = limit_for(app, name)
    if name in ADDRESS_LIMITS:
        key = address_key(key)
    now = time.time()
    log_key = f"{app.config['QUEUE_PREFIX']}:rl:{name}:{keyed_hmac('ratelimit', key, app)[:32]}"
    result = None
    if redis_may_be_up(app):
        try:
            allowed, wait = _script(app)(keys=[log_key], args=[now, limit.seconds, limit.count,
                                                                f"{now:.6f}:{secrets.token_hex(4)}"])
            result = (bool(int(allowed)), float(wait))
        except (redis.RedisError, OSError):
            remember_redis_down(app)
    if result is None:
        result = _memory(app).hit(log_key, limit, now)
    allowed, wait = result
    return Decision(True, 0) if allowed else Decision(False, max(1, math.ceil(wait)))

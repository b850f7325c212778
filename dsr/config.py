"""Configuration: built-in defaults -> instance files -> DSR_* environment -> test dict.

Nothing here reads the environment at import time; `load_config` is called by
`create_app` with the mapping to read from.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: the checkout (or installed tree) the portal runs from: templates, static files and the example systems
REPO_ROOT = Path(__file__).resolve().parent.parent

ENV_PREFIX = "DSR_"
SECRETS_FILE = "secrets.json"

# Every key here may be set as DSR_<KEY>; the default's type decides how the
# environment string is read (bool, int, float, list of numbers, or text; the key lists below are
# lists of text, separated by spaces).
DEFAULTS: dict[str, Any] = {
    "ENV": "development",  # development | production
    "SECRET_KEY": None,
    "SECRET_KEY_FALLBACKS": [],  # earlier secret keys, still accepted (sessions, links) after a rotation
    "ENCRYPTION_KEY": None,  # urlsafe base64 of 32 bytes: TOTP seeds, bundles at rest
    "ENCRYPTION_KEY_FALLBACKS": [],  # earlier encryption keys: still decrypt, never encrypt
    "SIGNING_KEY": None,  # urlsafe base64 of a 32-byte Ed25519 seed: bundle manifests
    "AUDIT_KEY": None,  # urlsafe base64 of 32 bytes, kept outside the database: seals the audit chain
    "AUDIT_KEY_FALLBACKS": [],  # earlier audit keys: rows sealed before a rotation still verify
    "AUDIT_HEAD_FILE": None,  # default: <instance>/audit-head.log (the daily head of the audit chain)
    "BASE_URL": "http://127.0.0.1:5000",
    "DATABASE_URL": None,  # default: SQLite file in the instance folder
    "REDIS_URL": None,  # default: embedded redis-server on a unix socket
    "STORAGE_DIR": None,  # default: <instance>/storage
    "STORAGE_URL": None,  # s3://bucket/prefix: bundles, spools and uploads in an S3-compatible store instead
    "S3_ENDPOINT_URL": None,  # another S3-compatible service than AWS (MinIO, Ceph, ...)
    "S3_REGION": None,
    "SYSTEMS_FILE": None,  # default: <instance>/systems.toml, else instance/systems.example.toml
    "PROXY_HOPS": 0,
    "SMTP_HOST": None,
    "SMTP_PORT": 25,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "SMTP_TIMEOUT": 10.0,
    "MAIL_FROM": "privacy@example.no",
    "SMS_URL": None,
    "SMS_TOKEN": None,
    "OUTBOX_DIR": None,  # default: <instance>/outbox (used when no SMTP host / SMS URL)
    "OUTBOX_KEEP_DAYS": 7,  # file-outbox mails and rotated SMS logs hold codes in clear: deleted after this
    "CASE_RETENTION_DAYS": 1095,  # a closed case is reduced to proof of handling this long after closing
    # Jobs and their safety nets: seconds, short in tests.
    "JOB_TIMEOUT": 600,
    "JOB_RETRY_INTERVALS": [10, 60, 300],
    "JOB_LEASE_SECONDS": 900,  # a published job not finished by then is checked by the sweeper
    "OUTBOX_SWEEP_SECONDS": 5.0,
    "OUTBOX_RELAY_INLINE": True,  # publish right after commit (the sweep is only the safety net)
    "REDIS_TIMEOUT": 1.0,  # connect/read timeout for web-side Redis calls
    "REDIS_RETRY_AFTER": 5.0,  # after a failed inline publish, leave it to the sweeper this long
    "WORKER_CLASS": "simple",  # simple (no fork per job, low overhead) | fork (isolates each job)
    "WORKER_MAINTENANCE_SECONDS": 60,
    "WORKER_BEACON_TTL": 15,  # seconds a worker may go silent before its running job is retried elsewhere
    "QUEUE_PREFIX": "dsr",
    # Abuse limits: "name=COUNT/SECONDS ..." overriding dsr.ratelimit.DEFAULT_LIMITS (a dict in tests).
    "RATE_LIMITS": None,
    # Export (access and portability): seconds, short in tests.
    "EXPORT_LEASE_SECONDS": 120,  # a running export/assembly not renewed by then belongs to a dead worker
    "BUNDLE_EXPIRY_DAYS": 7,  # a released bundle's link works this long; then the file is deleted
    "BUNDLE_MAX_DOWNLOADS": 10,
    "BUNDLE_COMPRESSLEVEL": 1,  # deflate level of the ZIP, ISA-L's 0-3: 1 is fast with a good ratio
    "MANUAL_UPLOAD_MAX_BYTES": 50_000_000,  # what staff may upload for a manual system
    "AUTHORISATION_MAX_BYTES": 10_000_000,  # a representative's authorisation (PDF, JPEG or PNG)
    "DOWNLOAD_FRESH_SECONDS": 600,  # a subject's download needs a DOWNLOAD code given this recently
    # Extra modules defining connector kinds (plugins), space-separated, imported at start-up.
    "CONNECTOR_MODULES": "",
    # Staff sessions (seconds): idle and absolute limits, freshness for sensitive actions, and how long
    # a password-checked login may wait for its TOTP code.
    "STAFF_IDLE_TIMEOUT": 1800,
    "STAFF_SESSION_MAX_AGE": 43200,
    "STAFF_REAUTH_SECONDS": 600,
    "STAFF_PENDING_LOGIN_SECONDS": 300,
    # Erasure approval needs a second officer (four-eyes) when on.
    "ERASURE_FOUR_EYES": False,
    "ACTIONS_AUTO_APPLY": False,  # true: an action's plan is applied without an officer's review
    # Deadline reminders to staff: days before the due date (and daily once overdue).
    "REMINDER_DAYS_BEFORE": [7, 3, 1],
    # Identity verification of subjects: one-time codes, links, the case page (seconds).
    "CODE_TTL_SECONDS": 600,  # a code (and the equivalent link) is valid this long
    "CODE_MAX_ATTEMPTS": 5,  # wrong tries before a code is burned
    "CODES_PER_DAY": 3,  # codes per request and purpose in any 24 hours (the first one included)
    "CODE_RESEND_SECONDS": 60,  # at least this long between two codes of the same request and purpose
    "CASE_LINK_MAX_AGE_SECONDS": 30 * 86400,  # the signed case link in every e-mail; older ones ask for a code
    "CASE_ACCESS_SECONDS": 4 * 3600,  # how long a browser may see a case after proving who it is
    "VERIFICATION_REMINDER_SECONDS": 86400,  # unverified requests get one reminder after this
    "VERIFICATION_EXPIRY_SECONDS": 7 * 86400,  # ... and expire after this
    "EMAIL_CHECK_DELIVERABILITY": False,  # ask DNS whether an e-mail domain accepts mail (needs network)
    # Request size limits (bytes); Flask predefines both keys, so they are set here rather than by setdefault.
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # a bigger body is answered 413
    "MAX_FORM_MEMORY_SIZE": 256 * 1024,  # a bigger form field is answered 413
}

TEXT_LISTS = frozenset({"SECRET_KEY_FALLBACKS", "ENCRYPTION_KEY_FALLBACKS", "AUDIT_KEY_FALLBACKS"})

WEAK_SECRETS = {"", "dev", "development", "secret", "changeme", "change-me", "test", "key", "password"}
MIN_SECRET_LENGTH = 32


def load_config(app, test_config: Mapping[str, Any] | None, environ: Mapping[str, str]) -> None:
    """Fill `app.config` in precedence order and derive the defaults that depend on the instance path."""
    app.config.from_mapping(DEFAULTS)
    instance = Path(app.instance_path)
    app.config.update(read_secrets_file(instance / SECRETS_FILE))
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(_from_environment(environ))
    if test_config:
        app.config.update(test_config)
    _derive_paths(app.config, instance)


def read_secrets_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the generated secrets ({exc}); delete it to make new ones") from exc
    return {k: v for k, v in data.items() if k in DEFAULTS}


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        raw = environ.get(ENV_PREFIX + key)
        if raw is None:
            continue
        values[key] = _coerce(key, raw, default)
    return values


def _coerce(key: str, raw: str, default: Any) -> Any:
    if key in TEXT_LISTS:
        return raw.split()
    try:
        if isinstance(default, bool):
            if raw.strip().lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.strip().lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, list):
            return [float(part) for part in raw.replace(",", " ").split()]
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{key}={raw!r} is not a valid {type(default).__name__}") from exc
    return raw


def _derive_paths(config, instance: Path) -> None:
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{instance / 'dsr.sqlite3'}"
    if not config.get("STORAGE_DIR"):
        config["STORAGE_DIR"] = str(instance / "storage")
    if not config.get("OUTBOX_DIR"):
        config["OUTBOX_DIR"] = str(instance / "outbox")
    if not config.get("AUDIT_HEAD_FILE"):
        config["AUDIT_HEAD_FILE"] = str(instance / "audit-head.log")
    if not config.get("SYSTEMS_FILE"):
        own = instance / "systems.toml"
        config["SYSTEMS_FILE"] = str(own if own.exists() else example_systems_file())


def example_systems_file() -> Path:
    return Path(__file__).resolve().parent.parent / "instance" / "systems.example.toml"


def is_weak_secret(value: str | None) -> bool:
    return value is None or value.strip().lower() in WEAK_SECRETS or len(value) < MIN_SECRET_LENGTH


def ensure_instance_secrets(instance: Path) -> Path:
    """Write random keys into the instance folder (the run command's first start); a key added by a
    later version (AUDIT_KEY) is added to an existing file, whose other keys stay as they are."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = instance / SECRETS_FILE
    read_secrets_file(path)  # a clear error when the file is unreadable
    data = json.loads(path.read_text()) if path.exists() else {}
    missing = {name: make() for name, make in _GENERATED_KEYS.items() if not data.get(name)}
    if not missing:
        return path
    # Written whole to a 0600 file, then renamed: the keys never sit world-readable or half-written on disk.
    temp = path.with_name(f".{SECRETS_FILE}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({**data, **missing}, fh, indent=2)
    os.replace(temp, path)
    return path


def _random_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


_GENERATED_KEYS = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "ENCRYPTION_KEY": _random_key,
    "SIGNING_KEY": _random_key,
    "AUDIT_KEY": _random_key,
}


class ConfigError(RuntimeError):
    """A configuration value or file is wrong; the message says which and where."""

"""How an http system proves who we are: `auth = { kind = ..., ... }` (or the older flat `auth_header`,
`auth_env`, `auth_scheme`). Secrets come from environment variables named here, never from the file.

- `header`: a fixed header (`header`, `env`, optional `scheme` such as "Bearer").
- `basic`: HTTP Basic with `username` (or `username_env`) and `password_env` (Mailchimp: any name and
  the API key; Zendesk: "agent@example.com/token" and the API token).
- `oauth2_client_credentials`: `token_url` (or `token_url_env`), `client_id_env`, `client_secret_env`,
  `scope` (RFC 6749 §4.4; Microsoft Graph).
- `tripletex_session`: `consumer_token_env`, `employee_token_env`, `session_days`: a session token made
  with PUT /token/session/:create under the base URL, sent as Basic "0:<token>" (Tripletex API v2).
- `google_service_account`: `key_file_env` naming a service-account JSON key, `scope`: a JWT signed with
  the key is exchanged at the key's token_uri (RFC 7523; Google APIs).

Tokens are kept in memory, per process, until shortly before they expire; a 401 makes the transport
drop the token and ask once more. Errors name the system and the variables, never a secret.
"""
from __future__ import annotations

import base64
import json
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dsr.connectors import declaration
from dsr.connectors.base import ConnectorError, DeclarationError, PermanentConnectorError

KINDS = {
    "header": ({"env"}, {"header", "scheme"}),
    "basic": ({"password_env"}, {"username", "username_env"}),
    "oauth2_client_credentials": ({"client_id_env", "client_secret_env"}, {"token_url", "token_url_env", "scope"}),
    "tripletex_session": ({"consumer_token_env", "employee_token_env"}, {"session_days"}),
    "google_service_account": ({"key_file_env", "scope"}, set()),
}
#: a token is renewed this share of its life before it expires (at most a minute before)
EARLY = 0.1
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

#: (method, url, form or None, params or None, what) -> (status, parsed JSON or None); the transport's
Fetch = Callable[[str, str, Mapping[str, str] | None, Mapping[str, str] | None, str], tuple[int, Any]]


def read_auth(settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """The auth declaration as a table (the flat settings become kind "header"); DeclarationError names the key."""
    if settings.get("auth") is None:
        if settings.get("auth_header") is None and settings.get("auth_env") is None:
            return None
        return {"kind": "header", "header": declaration.need_str(settings, "auth_header"),
                "env": declaration.need_str(settings, "auth_env"),
                "scheme": declaration.need_str(settings, "auth_scheme", optional=True)}
    table = declaration.need_table(settings, "auth")
    kind = table.get("kind")
    if kind not in KINDS:
        raise DeclarationError("auth.kind", f"must be one of {sorted(KINDS)}")
    required, optional = KINDS[kind]
    unknown = set(table) - required - optional - {"kind"}
    if unknown:
        raise DeclarationError(f"auth.{min(unknown)}", f"is not a setting of {kind} auth "
                               f"({', '.join(sorted(required | optional))})")
    for name in sorted(required):
        declaration.need_str(table, name, prefix="auth.")
    for name in sorted(optional - {"session_days"}):
        declaration.need_str(table, name, prefix="auth.", optional=True)
    if kind == "basic" and not (table.get("username") or table.get("username_env")):
        raise DeclarationError("auth.username", "give the user name, or username_env naming its variable")
    if kind == "oauth2_client_credentials" and not table.get("token_url"):
        raise DeclarationError("auth.token_url", "is required (the token endpoint, https://...)")
    if kind == "oauth2_client_credentials" and not str(table["token_url"]).startswith(("https://", "http://")):
        raise DeclarationError("auth.token_url", "must be an http(s) URL")
    if kind == "tripletex_session":
        declaration.need_number(table, "session_days", 1, prefix="auth.", maximum=30)
    return table


def variables(spec: Mapping[str, Any] | None) -> list[str]:
    """The environment variables an auth declaration reads (named in errors, never their values)."""
    return sorted(str(value) for name, value in (spec or {}).items() if name.endswith("_env") or name == "env")


def make_auth(system: str, spec: Mapping[str, Any] | None, environ: Mapping[str, str],
              fill: Callable[[str], str]) -> Auth | None:
    """The auth of one system; `fill` expands {var:...} in a declared URL."""
    if spec is None:
        return None
    kind = spec["kind"]
    if kind == "header":
        return HeaderAuth(system, spec, environ)
    if kind == "basic":
        return BasicAuth(system, spec, environ)
    if kind == "oauth2_client_credentials":
        return ClientCredentials(system, spec, environ, fill)
    if kind == "tripletex_session":
        return TripletexSession(system, spec, environ)
    return GoogleServiceAccount(system, spec, environ)


class Auth(ABC):
    refreshable = False

    def __init__(self, system: str, spec: Mapping[str, Any], environ: Mapping[str, str]):
        self.system, self.spec, self.environ = system, spec, environ

    def secret(self, setting: str) -> str:
        variable = self.spec[setting]
        value = self.environ.get(variable)
        if not value:
            raise PermanentConnectorError(f"the variable {variable} holding the API credential of system "
                                          f"{self.system} is not set")
        return value

    @abstractmethod
    def headers(self, fetch: Fetch, base_url: str) -> dict[str, str]: ...

    def invalidate(self) -> None:
        """Forget a token the system refused (the next request gets a fresh one)."""

    @property
    def check(self) -> str:
        names = variables(self.spec)
        if not names:
            return "check the credentials"
        return "check " + (f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0])


class HeaderAuth(Auth):
    def headers(self, fetch: Fetch, base_url: str) -> dict[str, str]:
        value = self.secret("env")
        scheme = self.spec.get("scheme")
        return {self.spec.get("header") or "Authorization": f"{scheme} {value}" if scheme else value}


class BasicAuth(Auth):
    def headers(self, fetch: Fetch, base_url: str) -> dict[str, str]:
        user = self.spec.get("username") or self.secret("username_env")
        return {"Authorization": basic(user, self.secret("password_env"))}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class TokenAuth(Auth):
    """A token fetched from an endpoint and kept until shortly before it expires."""

    refreshable = True

    def __init__(self, *args):
        super().__init__(*args)
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def headers(self, fetch: Fetch, base_url: str) -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._token, lifetime = self.fetch_token(fetch, base_url)
                self._renew_at = time.monotonic() + lifetime - min(60.0, lifetime * EARLY)
            return self.header_for(self._token)

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def header_for(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @abstractmethod
    def fetch_token(self, fetch: Fetch, base_url: str) -> tuple[str, float]: ...

    def answer(self, status: int, document: Any, field: str = "access_token") -> tuple[str, float]:
        """The token and its lifetime in seconds from a token endpoint's answer (untrusted)."""
        if status in (400, 401, 403):
            code = document.get("error") if isinstance(document, dict) else None
            code = f" ({code})" if isinstance(code, str) and _ERROR_CODE.match(code) else ""
            raise PermanentConnectorError(f"system {self.system} refused our credentials at its token endpoint "
                                          f"with HTTP {status}{code}: {self.check}")
        if status in (408, 429) or status >= 500:
            raise ConnectorError(f"system {self.system} answered the token request with HTTP {status}")
        token = document.get(field) if isinstance(document, dict) else None
        lifetime = document.get("expires_in", 3600) if isinstance(document, dict) else None
        if status != 200 or not isinstance(token, str) or not token or isinstance(lifetime, bool) \
                or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise PermanentConnectorError(f"system {self.system} answered the token request in an unexpected shape "
                                          f"(HTTP {status})")
        return token, float(lifetime)


class ClientCredentials(TokenAuth):
    def __init__(self, system, spec, environ, fill: Callable[[str], str]):
        super().__init__(system, spec, environ)
        self.fill = fill

    def fetch_token(self, fetch: Fetch, base_url: str) -> tuple[str, float]:
        variable = self.spec.get("token_url_env")
        url = (self.environ.get(variable) if variable else None) or self.fill(self.spec["token_url"])
        form = {"grant_type": "client_credentials", "client_id": self.secret("client_id_env"),
                "client_secret": self.secret("client_secret_env")}
        if self.spec.get("scope"):
            form["scope"] = self.spec["scope"]
        return self.answer(*fetch("POST", url, form, None, "token"))


class TripletexSession(TokenAuth):
    """PUT /token/session/:create?consumerToken&employeeToken&expirationDate -> {"value": {"token"}}."""

    def fetch_token(self, fetch: Fetch, base_url: str) -> tuple[str, float]:
        days = int(self.spec.get("session_days", 1))
        expires = datetime.now(UTC).date() + timedelta(days=days)
        params = {"consumerToken": self.secret("consumer_token_env"),
                  "employeeToken": self.secret("employee_token_env"), "expirationDate": expires.isoformat()}
        status, document = fetch("PUT", base_url + "/token/session/:create", None, params, "session token")
        value = document.get("value") if isinstance(document, dict) else None
        token, _ = self.answer(status, value if status == 200 else document, field="token")
        # Valid through the day before its expiration date (UTC), whatever it says about itself.
        until = datetime.combine(expires, datetime.min.time(), tzinfo=UTC)
        return token, max(60.0, (until - datetime.now(UTC)).total_seconds())

    def header_for(self, token: str) -> dict[str, str]:
        return {"Authorization": basic("0", token)}  # "0": the company the employee token belongs to


class GoogleServiceAccount(TokenAuth):
    def fetch_token(self, fetch: Fetch, base_url: str) -> tuple[str, float]:
        key = self._key()
        now = int(time.time())
        claims = {"iss": key["client_email"], "scope": self.spec["scope"], "aud": key["token_uri"], "iat": now,
                  "exp": now + 3600}
        form = {"grant_type": JWT_BEARER, "assertion": sign_jwt(claims, key["private_key"], key.get("private_key_id"))}
        return self.answer(*fetch("POST", key["token_uri"], form, None, "token"))

    def _key(self) -> dict[str, str]:
        path = Path(self.secret("key_file_env"))
        try:
            key = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise PermanentConnectorError(f"the service-account key file of system {self.system} cannot be read "
                                          f"({self.check})") from None
        if not isinstance(key, dict) or not all(isinstance(key.get(name), str) and key[name]
                                                for name in ("client_email", "private_key", "token_uri")):
            raise PermanentConnectorError(f"the service-account key file of system {self.system} lacks "
                                          "client_email, private_key or token_uri")
        return key


def sign_jwt(claims: Mapping[str, Any], private_key_pem: str, key_id: str | None = None) -> str:
    """An RS256 JWT (RFC 7519) signed with a PEM private key."""
    header = {"alg": "RS256", "typ": "JWT", **({"kid": key_id} if key_id else {})}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(dict(claims)).encode())}"
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise PermanentConnectorError("the service-account private key cannot be read") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PermanentConnectorError("the service-account private key is not an RSA key")
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

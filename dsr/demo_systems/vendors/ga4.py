"""Google Analytics Admin API stand-in (https://analyticsadmin.googleapis.com/v1alpha) with Google's OAuth 2.0
token endpoint (https://oauth2.googleapis.com/token), from Google's public documentation:

- User deletion: https://developers.google.com/analytics/devguides/config/admin/v1/rest/v1alpha/properties/submitUserDeletion
  POST /v1alpha/properties/{property}:submitUserDeletion {"clientId" | "userId" | "appInstanceId" |
  "userProvidedData"} -> 200 {"deletionRequestTime"}
- Service accounts: https://developers.google.com/identity/protocols/oauth2/service-account#httprest
  POST /token (form: grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, assertion=<RS256 JWT with
  iss, scope, aud = the token URI, iat, exp>) -> {"access_token", "expires_in", "token_type": "Bearer"};
  a bad assertion -> 400 {"error": "invalid_grant", "error_description"}
- Errors: {"error": {"code", "message", "status"}} (UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT,
  RESOURCE_EXHAUSTED).
The stand-in makes its own RSA key and writes the service-account key file the portal reads
(`write_key_file`); it checks the JWT's signature with the public half, as Google does with its copy.
"""
from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dsr.demo_systems.vendors.base import Answer, Request, VendorServer, bearer

PROPERTY = "412345678"
SCOPE = "https://www.googleapis.com/auth/analytics.edit"
CLIENT_EMAIL = "dsr-portal@fjordnett-analytics.iam.gserviceaccount.com"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class Ga4Server(VendorServer):
    name = "ga4"
    prefix = "/v1alpha"

    def seed(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.deletions: list[tuple[str, str]] = []  # (property, client id) requested

    @property
    def token_uri(self) -> str:
        return f"{self.origin}/token"

    def key_file(self) -> dict[str, str]:
        pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()
        return {"type": "service_account", "project_id": "fjordnett-analytics", "private_key_id": "1a2b3c",
                "private_key": pem, "client_email": CLIENT_EMAIL, "token_uri": self.token_uri}

    def write_key_file(self, path: Path) -> Path:
        path.write_text(json.dumps(self.key_file()))
        path.chmod(0o600)
        return path

    # ------------------------------------------------------------------ tokens

    def handle_outside(self, request: Request) -> Answer | None:
        if request.path != "/token":
            return None
        form = request.body if isinstance(request.body, dict) else {}
        if form.get("grant_type") != JWT_BEARER or not self._valid_assertion(str(form.get("assertion", ""))):
            return Answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        token, lifetime = self.tokens.issue()
        return Answer(200, {"access_token": token, "expires_in": int(lifetime), "token_type": "Bearer"})

    def _valid_assertion(self, assertion: str) -> bool:
        try:
            header, claims, signature = assertion.split(".")
            self.key.public_key().verify(_unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(),
                                         hashes.SHA256())
            values = json.loads(_unb64(claims))
        except (ValueError, InvalidSignature):
            return False
        now = time.time()
        issued, expires = values.get("iat"), values.get("exp")
        return values.get("iss") == CLIENT_EMAIL and values.get("aud") == self.token_uri \
            and values.get("scope") == SCOPE and isinstance(issued, int) and isinstance(expires, int) \
            and issued <= now + 60 and now < expires

    def authorized(self, request: Request) -> bool:
        return self.tokens.valid(bearer(request))

    def error(self, status: int, message: str) -> dict:
        text = {401: ("Request had invalid authentication credentials.", "UNAUTHENTICATED"),
                403: ("User does not have sufficient permissions for this property.", "PERMISSION_DENIED"),
                429: ("Quota exceeded.", "RESOURCE_EXHAUSTED"), 400: (message, "INVALID_ARGUMENT"),
                404: ("Requested entity was not found.", "NOT_FOUND")}
        words, status_name = text.get(status, (message, "INTERNAL"))
        return {"error": {"code": status, "message": words, "status": status_name}}

    def busy_headers(self) -> dict[str, str]:
        return {}

    def handle(self, request: Request) -> Answer:
        s = request.segments
        if request.method != "POST" or len(s) != 2 or s[0] != "properties" or not s[1].endswith(":submitUserDeletion"):
            return self.not_found()
        if s[1].removesuffix(":submitUserDeletion") != PROPERTY:
            return Answer(403, self.error(403, ""))
        body = request.body if isinstance(request.body, dict) else {}
        given = [name for name in ("userId", "clientId", "appInstanceId", "userProvidedData") if body.get(name)]
        if len(given) != 1:
            return Answer(400, self.error(400, "Exactly one user identifier must be set."))
        self.deletions.append((PROPERTY, str(body[given[0]])))
        return Answer(200, {"deletionRequestTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")})


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""S27-S29, S12: every HTML answer — pages, redirects' targets, 404/405/429/500/503 — carries the security
headers; production cookies are __Host-, Secure, HttpOnly and SameSite; no page may be cached."""
from __future__ import annotations

import pytest
from flask import url_for

from dsr import create_app
from dsr.auth.policy import public

REQUIRED_CSP = ("default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'",
                "frame-ancestors 'none'", "form-action 'self'")


def _check(response, where: str) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    missing = [d for d in REQUIRED_CSP if d not in csp]
    assert not missing and "unsafe-inline" not in csp and "unsafe-eval" not in csp, f"{where}: CSP {csp!r}"
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") == "no-referrer", where
    assert headers.get("Cross-Origin-Opener-Policy") == "same-origin", where
    assert headers.get("Cache-Control") == "no-store", where


def _get_urls(app) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values = {name: ("1" if "int" in type(conv).__name__.lower() else "no-such-thing")
                  for name, conv in rule._converters.items()}
        with app.test_request_context():
            urls.append(url_for(rule.endpoint, **values))
    return sorted(set(urls))


def test_every_html_answer_of_every_route_carries_the_headers(app, client):
    urls = _get_urls(app)
    assert len(urls) > 30  # subject, staff and health routes are all walked
    seen_html = 0
    for url in urls:
        response = client.get(url)
        if response.mimetype == "text/html":
            _check(response, f"GET {url} -> {response.status_code}")
            seen_html += 1
        assert response.status_code < 500, f"GET {url} answered {response.status_code}"
    assert seen_html > 10


@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/no-such-page", 404),
    ("delete", "/", 405),
])
def test_error_pages_carry_the_headers(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    _check(response, f"{method} {path}")


def test_the_last_resort_error_page_carries_the_headers_and_no_traceback(app_config):
    app = create_app(app_config)
    app.add_url_rule("/boom", "boom", public(lambda: 1 / 0))
    response = app.test_client().get("/boom")
    assert response.status_code == 500 and b"Traceback" not in response.data and b"ZeroDivision" not in response.data
    _check(response, "500 page")


def test_production_cookies_and_hsts(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "production", "SECRET_KEY": "s" * 48,
                      "AUDIT_KEY": "a" * 43, "REDIS_URL": "unix:///nonexistent/redis.sock"})
    client = app.test_client()
    response = client.get("/?lang=nb", base_url="https://portal.example")  # choosing a language sets the cookie
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies, "the language choice should be remembered in the session cookie"
    for cookie in cookies:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert cookie.startswith("__Host-"), cookie
        assert {"secure", "httponly", "samesite", "path"} <= attributes and "domain" not in attributes, cookie
    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 31536000 and "includeSubDomains" in hsts

"""README's advice on access logs matches where the portal really puts its bearer tokens (issue 13, finding 13):
in URL paths (/verify/link/<token>, /case/open/<token>, /case/<public id>/...), not in query strings, so
scrubbing query strings alone would leave every token in the log."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from dsr import REPO_ROOT
from dsr.links import case_link_url, verify_link_url


def _production_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    return readme.split("## Production deployment", 1)[1].split("\n## ", 1)[0]


def test_tokens_are_in_url_paths_not_query_strings(app):
    with app.app_context():
        links = [verify_link_url("public-id-1", "nonce-1"), case_link_url("public-id-1", 1)]
    for link in links:
        parts = urlsplit(link)
        assert parts.query == "" and len(parts.path.rsplit("/", 1)[1]) > 40, link  # the token is the last segment


def test_the_readme_tells_operators_to_keep_paths_out_of_access_logs():
    advice = re.sub(r"\s+", " ", _production_section())
    assert not re.search(r"scrub\w* (of|the) query strings", advice)  # that would miss every token
    for path in ("/verify/link/", "/case/open/", "/case/"):
        assert f"`{path}" in advice, path
    assert "URL path" in advice

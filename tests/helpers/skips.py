"""The only reasons a test may be skipped. A skip is declared by its kind: `skip_reason("browser", ...)`
gives "[browser] ..."; the suite report fails the run on any skip whose reason carries no known kind."""
from __future__ import annotations

import re

#: kind -> what the one-line summary says about it
SKIP_KINDS: dict[str, str] = {
    "browser": "no Chromium",
    "fault": "server pass only",
    "timing": "server pass only",
    "postgresql": "server pass only",
    "tool": "optional tool absent",
    "wheel": "optional wheel absent",
}

_TAG = re.compile(r"^(?:Skipped: )?\[([a-z]+)\] ")


def skip_reason(kind: str, detail: str) -> str:
    if kind not in SKIP_KINDS:
        raise ValueError(f"undeclared skip kind {kind!r}; declare it in SKIP_KINDS")
    return f"[{kind}] {detail}"


def kind_of(reason: str) -> str | None:
    """The declared kind of a skip reason, or None for a skip nobody declared."""
    match = _TAG.match(reason)
    return match[1] if match and match[1] in SKIP_KINDS else None

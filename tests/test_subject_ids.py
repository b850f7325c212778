"""Ids in subject-facing URLs that cannot be ours are simply not found: a NUL byte or path tricks never
reach the database (PostgreSQL refuses NUL in text with an error: that would be a 500 from a typed URL)."""
from __future__ import annotations

import pytest

WEIRD = ("%00", "abc%00def", "..%2f..%2fetc", "%2e%2e", "a" * 65, "%C3%A6%C3%B8")


@pytest.mark.parametrize("template", ["/verify/{}", "/verify/{}/checking", "/verify/{}/phone", "/case/{}",
                                      "/case/{}/withdraw", "/case/{}/download/{}", "/case/{}/download/{}/code"])
def test_ids_that_cannot_be_ours_are_not_found(client, template):
    for weird in WEIRD:
        path = template.format(weird, weird)
        assert client.get(path).status_code == 404, path
        if "/verify/" in path and path.count("/") == 2:
            assert client.post(path, data={"code": "123456"}).status_code == 404, path

"""Factory fixtures returning callables (no factory library)."""
from __future__ import annotations

import itertools

import pytest

from dsr.auth.passwords import hash_password
from dsr.models import RequestStatus, Right, StaffRole, StaffUser, SubjectRequest

_sequence = itertools.count(1)


@pytest.fixture
def make_request(session):
    def make(**overrides) -> SubjectRequest:
        n = next(_sequence)
        values = {"right": Right.ACCESS, "email": f"subject{n}@example.org", "language": "en",
                  "status": RequestStatus.OPEN}
        values.update(overrides)
        request = SubjectRequest(**values)
        session.add(request)
        session.commit()
        return request

    return make


@pytest.fixture
def make_staff(session):
    def make(role: StaffRole = StaffRole.OFFICER, password: str = "correct horse battery staple",
             **overrides) -> StaffUser:
        n = next(_sequence)
        values = {"email": f"staff{n}@fjordnett.example", "display_name": f"Staff {n}", "role": role,
                  "password_hash": hash_password(password), "must_change_password": False}
        values.update(overrides)
        user = StaffUser(**values)
        session.add(user)
        session.commit()
        return user

    return make

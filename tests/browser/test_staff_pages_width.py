"""Issue 15: the queue and the case page fit a laptop (1280 px) and a phone (375 px) in Chromium. A letter with a
long link wraps inside its message instead of widening the page; wide tables scroll inside their own box.
Checked in Norwegian, whose words are longer, with axe on each page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.models import (
    DeliveryChannel,
    DeliveryStatus,
    Message,
    MessageDirection,
    RequestStatus,
    Right,
    StaffRole,
    SubjectRequest,
)
from tests.browser.conftest import assert_accessible, staff_login
from tests.helpers.staff import enrolled_staff

LONG_LINK = "https://support.fjordnett.example/" + "veldig-lang-sti-uten-mellomrom-" * 12 + "slutt"


def _arrange(portal) -> tuple[int, str, str]:
    controller = portal.app.extensions["dsr.controller"]
    with portal.app.app_context(), portal.session() as session:
        now = utcnow()
        case = SubjectRequest(right=Right.WITHDRAW_CONSENT, email="a.very.long.address.for.testing@subdomain.example.org",
                              language="nb", status=RequestStatus.AWAITING_SUBJECT, received_at=now - timedelta(days=3),
                              verified_at=now, identity_method="email_code+sms_code",
                              details={"consent_text": "nyhetsbrev-" * 20})
        session.add(case)
        session.flush()
        refresh_deadlines(case, controller)
        session.add(Message(request_id=case.id, direction=MessageDirection.FROM_SUBJECT, channel=DeliveryChannel.PORTAL,
                            template="recorded:email", language="nb", status=DeliveryStatus.NOT_SENT,
                            body_text=f"Se {LONG_LINK} for detaljene."))
        session.commit()
        user, secret = enrolled_staff(session, portal.app, StaffRole.OFFICER, language="nb")
        return case.id, user.email, secret


def _page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


@pytest.mark.parametrize("width", [1280, 375])
def test_the_queue_and_case_page_fit_the_screen_in_norwegian(portal, page, shots, width):
    case_id, email, secret = _arrange(portal)
    page.set_viewport_size({"width": width, "height": 900})
    staff_login(page, portal, email, secret)

    assert page.locator("h1").inner_text() == "Sakskøen"
    scroll_width, screen = _page_width(page)
    assert scroll_width <= screen, f"the queue is {scroll_width} px wide on a {screen} px screen"
    assert_accessible(page, f"queue at {width} px")
    shots(page, f"queue-{width}")

    page.goto(f"{portal.url}/staff/cases/{case_id}")
    assert "venter på den registrerte" in page.locator("h1").inner_text()
    message = page.locator(".message-body").first
    assert LONG_LINK[:40] in message.inner_text()
    scroll_width, screen = _page_width(page)
    assert scroll_width <= screen, f"the case page is {scroll_width} px wide on a {screen} px screen"
    box = message.bounding_box()
    assert box["x"] + box["width"] <= screen
    assert_accessible(page, f"case page at {width} px")
    shots(page, f"case-{width}")
    assert page.csp_violations == []

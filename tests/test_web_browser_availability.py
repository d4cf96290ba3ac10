"""Working hours in a real browser (Debian's Chromium under Playwright): the weekly
form of ``/.web/settings/availability`` sets them without JavaScript tricks, shows a
mistake next to its day, and reads at a phone's width."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import PASSWORD, LiveServer
from tests.web_support import PHONE, chromium, screenshot, signed_in, web_server

server = pytest.fixture(scope="module", params=["sqlite"])(web_server)
browser = pytest.fixture(scope="module")(chromium)


def test_a_browser_sets_working_hours(server: LiveServer, browser: Any) -> None:
    page = signed_in(browser, server)
    page.goto(server.url + "/.web/settings/availability")
    page.fill("#timezone", "Europe/Berlin")
    page.uncheck("#day-FR")
    page.fill("#from-TU", "10:00")
    page.fill("#to-TU", "09:00")
    page.click("button[value=save]")
    page.wait_for_load_state()
    assert "Tuesday: the end must be after the start" in page.inner_text("main")
    assert page.get_attribute("#from-TU", "aria-invalid") == "true"
    screenshot(page, "availability-error")
    page.fill("#to-TU", "18:00")
    page.click("button[value=save]")
    page.wait_for_load_state()
    assert page.url.endswith("/.web/settings/availability?done=saved")
    assert "Your working hours are saved." in page.inner_text("main")
    assert not page.is_checked("#day-FR") and page.input_value("#from-TU") == "10:00"
    screenshot(page, "availability")
    login = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    answer = page.request.get(
        server.url + "/.api/v1/me/availability", headers={"Authorization": f"Basic {login}"}
    )
    assert answer.ok, answer.text()  # the API agrees
    weekly = json.loads(answer.text())["weekly"]
    assert {"day": "TU", "start": "10:00", "end": "18:00"} in weekly
    assert all(entry["day"] != "FR" for entry in weekly)
    page.context.close()
    phone = signed_in(browser, server, viewport=PHONE)
    phone.goto(server.url + "/.web/settings/availability")
    screenshot(phone, "availability-phone")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    phone.context.close()

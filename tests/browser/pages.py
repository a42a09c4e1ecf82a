"""Checks every browser test makes of a view it reaches: the guards, axe-core, screenshots at both sizes."""

from __future__ import annotations

from playwright.sync_api import Locator

from tests.browser.harness import DESKTOP, PHONE, Session


def shots(s: Session, name: str) -> None:
    """The view at both viewports, and axe-core's verdict on each."""
    try:
        for size in (DESKTOP, PHONE):
            s.page.set_viewport_size(size)
            s.shot(name)
            assert s.axe() == [], f"{name} at {size['width']}x{size['height']}"
    finally:
        s.page.set_viewport_size(DESKTOP)


def check_view(s: Session, name: str) -> None:
    """GIVEN a loaded view: nothing unwanted happened, axe finds nothing serious, screenshots at both sizes."""
    s.guard.check(s.page)
    shots(s, name)
    s.guard.check(s.page)


def error_of(s: Session, field: Locator) -> Locator:
    """The inline error of a field: the last element its aria-describedby names."""
    error_id = (field.get_attribute("aria-describedby") or "").split()[-1]
    return s.page.locator(f"[id='{error_id}']")


def text_of(s: Session) -> str:
    """Everything the page shows as text (and its inputs' values)."""
    return str(
        s.page.evaluate(
            "document.body.innerText + '\\n' + "
            "Array.from(document.querySelectorAll('input, textarea')).map(e => e.value).join('\\n')"
        )
    )

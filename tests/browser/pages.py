"""Checks every browser test makes of a view it reaches: the guards, axe-core, screenshots at both sizes."""

from __future__ import annotations

from tests.browser.harness import DESKTOP, PHONE, Session


def check_view(s: Session, name: str) -> None:
    """GIVEN a loaded view: nothing unwanted happened, axe finds nothing serious, screenshots at both sizes."""
    s.guard.check(s.page)
    assert s.axe() == [], name
    s.shot(name)
    s.page.set_viewport_size(PHONE)
    try:
        s.shot(name)
        assert s.axe() == [], f"{name} on a phone"
    finally:
        s.page.set_viewport_size(DESKTOP)
    s.guard.check(s.page)


def text_of(s: Session) -> str:
    """Everything the page shows as text (and its inputs' values)."""
    return str(
        s.page.evaluate(
            "document.body.innerText + '\\n' + "
            "Array.from(document.querySelectorAll('input, textarea')).map(e => e.value).join('\\n')"
        )
    )

"""The event-type catalog: the schema checked as JSON while it is typed and as a JSON Schema by the API
on save, shown pretty-printed, edited (deprecated) in place, deleted."""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import Browser, expect

from testkit.stack import Stack
from tests.browser.harness import session
from tests.browser.pages import error_of, shots


def test_an_event_type_schema_is_checked_while_typed_and_on_save(browser: Browser, stack: Stack) -> None:
    name = f"order.created.{uuid.uuid4().hex[:6]}"
    with session(browser, stack, "/console") as s:
        page = s.page
        # GIVEN the catalog
        s.open("/event-types")
        shots(s, "console-event-types")
        page.get_by_test_id("event-type-name").fill(name)
        page.get_by_test_id("event-type-description").fill("An order was placed <script>x</script>")
        schema = page.get_by_test_id("schema")
        # WHEN the schema typed is not JSON, THEN the field says so at once (nothing was sent)
        schema.fill('{"type": "object",')
        expect(schema).to_have_attribute("aria-invalid", "true")
        expect(error_of(s, schema)).to_contain_text("The schema is not valid JSON")
        # WHEN it is JSON but not an object, THEN that too
        schema.fill("[1, 2]")
        expect(error_of(s, schema)).to_have_text('A JSON Schema is an object, such as {"type": "object"}.')
        # WHEN it is JSON but not a JSON Schema, THEN the API's sentence shows under the field on save
        schema.fill('{"type": 5}')
        expect(schema).not_to_have_attribute("aria-invalid", "true")
        page.get_by_test_id("event-type-form-submit").click()
        expect(schema).to_have_attribute("aria-invalid", "true")
        expect(error_of(s, schema)).to_contain_text("Schema is not a valid JSON Schema")
        # WHEN it is fixed and saved
        good = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
        schema.fill(json.dumps(good))
        page.get_by_test_id("event-type-form-submit").click()
        # THEN its page shows the schema pretty-printed
        page.get_by_role("heading", name=name, exact=True).wait_for()
        s.wait_loaded()
        expect(page.get_by_test_id("schema-shown")).to_have_text(json.dumps(good, indent=2))
        expect(page.get_by_text("An order was placed <script>x</script>").first).to_be_visible()
        shots(s, "console-event-type")
        # WHEN it is marked deprecated and its schema emptied, THEN the page shows that without a reload
        edit = page.get_by_test_id("event-type-edit")
        edit.get_by_label("Deprecated").check()
        edit.get_by_test_id("schema").fill("")
        edit.get_by_role("button", name="Save").click()
        expect(page.locator(".details .badge")).to_have_text("deprecated")
        expect(page.get_by_text("No schema: any payload is accepted.")).to_be_visible()
        saved = stack.request("GET", f"/v1/event-types/{name}", admin=True).json()
        assert (saved["deprecated"], saved["schema"]) == (True, None)
        # WHEN it is deleted, THEN the catalog opens without it
        page.get_by_test_id("delete-event-type").click()
        page.get_by_test_id("delete-event-type-yes").click()
        page.get_by_role("heading", name="Event types", exact=True).wait_for()
        s.wait_loaded()
        expect(page.get_by_role("link", name=name)).to_have_count(0)
        s.guard.check(page)

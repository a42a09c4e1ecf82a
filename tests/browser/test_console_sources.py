"""The sources pages: a create form that follows the scheme, the API's field errors inline, the ingest
URL, secrets added and retired, and the rejections that answer "why does my signature fail?"."""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import Browser, expect

from testkit.stack import Stack, github_headers
from tests.browser.harness import session
from tests.browser.pages import error_of, shots
from tests.conftest import GITHUB_SECRET


def test_create_a_source_see_its_rejections_and_rotate_its_secret(browser: Browser, stack: Stack) -> None:
    name = f"shop-{uuid.uuid4().hex[:6]}"
    with session(browser, stack, "/console") as s:
        page = s.page
        # GIVEN the sources list
        s.open("/sources")
        shots(s, "console-sources")
        # WHEN a new source is started, THEN the fields follow the scheme picked
        page.get_by_test_id("new-source").click()
        s.wait_loaded()
        page.get_by_label("Verification scheme").select_option("stripe")
        expect(page.get_by_label("Signing secret (whsec_…)")).to_be_visible()
        expect(page.get_by_label("Tolerance (seconds)", exact=True)).to_be_visible()
        page.get_by_label("Verification scheme").select_option("hmac")
        expect(page.get_by_label("Signature header")).to_be_visible()
        expect(page.get_by_label("Encoding")).to_be_visible()
        shots(s, "console-source-new")
        # WHEN the API refuses a scheme field, THEN its sentence is under that field
        page.get_by_label("Verification scheme").select_option("stripe")
        page.get_by_label("Name").first.fill(name)
        page.get_by_label("Signing secret (whsec_…)").fill("whsec_test_secret_value")
        page.get_by_label("Tolerance (seconds)", exact=True).fill("99999")
        page.get_by_test_id("source-form-submit").click()
        tolerance = page.get_by_label("Tolerance (seconds)", exact=True)
        expect(tolerance).to_have_attribute("aria-invalid", "true")
        expect(error_of(s, tolerance)).to_have_text("Tolerance must be 1 to 86400 seconds.")
        # ... and GitHub shows its own fields (no tolerance; the SHA-1 fallback)
        page.get_by_label("Verification scheme").select_option("github")
        expect(page.get_by_label("Tolerance (seconds)", exact=True)).to_have_count(0)
        expect(page.get_by_label("Also accept the legacy SHA-1 signature", exact=False)).to_be_visible()
        page.get_by_label("Webhook secret").fill(GITHUB_SECRET)
        page.get_by_test_id("source-form-submit").click()
        # THEN the source's page opens with its ingest URL
        page.get_by_role("heading", name=name, exact=True).wait_for()
        s.wait_loaded()
        ingest_url = page.get_by_test_id("ingest-url").input_value()
        source_id = ingest_url.rsplit("/", 1)[1]
        assert ingest_url == f"{stack.base}/in/{source_id}" and source_id.startswith("src_")
        expect(page.get_by_test_id("rejections-part")).to_contain_text("No request has been rejected")

        # WHEN a webhook signed with the wrong secret arrives
        body = json.dumps({"zen": "<b>not markup</b>"}).encode()
        bad = github_headers(body, "d-bad-1", secret="not-the-secret")
        bad["User-Agent"] = "GitHub-Hookshot/test"
        reply = stack.request("POST", f"/in/{source_id}", body=body, headers=bad)
        assert reply.status == 401, reply.body
        page.get_by_test_id("refresh-rejections").click()
        # THEN the page says why, with the request's facts
        row = page.get_by_test_id("rejections").locator("tbody tr").first
        expect(row).to_contain_text("signature_mismatch")
        expect(row).to_contain_text("GitHub-Hookshot/test")
        expect(row).to_contain_text("X-Hub-Signature-256", ignore_case=True)
        expect(page.get_by_test_id("rejection-counts")).to_contain_text("signature_mismatch 1")
        shots(s, "console-source")

        # WHEN a second secret is added
        page.get_by_test_id("new-secret").fill("a-brand-new-secret-0001")
        page.get_by_test_id("add-secret-submit").click()
        secrets = page.get_by_test_id("secrets").locator("tbody tr")
        expect(secrets).to_have_count(2)
        expect(page.get_by_test_id("secrets")).to_contain_text("…0001")
        # ... and the first one is retired in place
        first = stack.request("GET", f"/v1/sources/{source_id}", admin=True).json()["verification"][
            "secrets"
        ][0]
        page.get_by_test_id(f"retire-{first['id']}").click()
        page.get_by_test_id(f"retire-{first['id']}-yes").click()
        expect(secrets).to_have_count(1)
        expect(page.locator("#status")).to_contain_text("Secret retired")
        # THEN the old secret no longer verifies and the new one does
        good = github_headers(body, "d-old-1")
        assert stack.request("POST", f"/in/{source_id}", body=body, headers=good).status == 401
        fresh = github_headers(body, "d-new-1", secret="a-brand-new-secret-0001")
        assert stack.request("POST", f"/in/{source_id}", body=body, headers=fresh).status == 202

        # WHEN the source is deleted, THEN the list opens and no longer has it
        page.get_by_test_id("delete-source").click()
        page.get_by_test_id("delete-source-yes").click()
        page.get_by_role("heading", name="Sources", exact=True).wait_for()
        s.wait_loaded()
        expect(page.locator("#status")).to_contain_text(f"Source {name} deleted.")
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
        assert stack.request("GET", f"/v1/sources/{source_id}", admin=True).status == 404
        s.guard.check(page)


def test_a_secret_the_scheme_cannot_use_is_refused_under_the_secrets_field(
    browser: Browser, stack: Stack
) -> None:
    with session(browser, stack, "/console") as s:
        page = s.page
        # GIVEN the new-source form with Standard Webhooks
        s.open("/sources/new")
        page.get_by_label("Verification scheme").select_option("standard")
        page.get_by_label("Name").first.fill("sw")
        # WHEN the secret is not a usable whsec_ key
        page.get_by_test_id("secrets").fill("whsec_***not base64***")
        page.get_by_test_id("source-form-submit").click()
        # THEN the API's sentence shows under the secrets field, and nothing was created
        secrets = page.get_by_test_id("secrets")
        expect(secrets).to_have_attribute("aria-invalid", "true")
        expect(error_of(s, secrets)).to_contain_text("Secret is not valid base64.")
        expect(page.get_by_role("heading", name="New source")).to_be_visible()
        s.guard.check(page)


def test_the_source_form_is_built_from_the_served_scheme_metadata(browser: Browser, stack: Stack) -> None:
    # GIVEN the scheme metadata the API serves, with one scheme relabelled as hostile markup and given a
    # new option (what a newly registered scheme module would add, with no change to the console)
    served = stack.request("GET", "/v1/schemes").json()
    hostile = '<img src=x onerror="document.title=1">GitHub'
    first = served["schemes"][0]
    first["label"] = hostile
    first["options"].append(
        {
            "name": "acme_region",
            "kind": "choice",
            "label": "Region <b>bold</b>",
            "help": "<script>document.title=2</script>",
            "required": False,
            "choices": ["eu", "us"],
        }
    )
    with session(browser, stack, "/console") as s:
        page = s.page
        page.route(
            "**/v1/schemes",
            lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(served)),
        )
        # WHEN the new-source form opens
        s.open("/sources/new")
        picker = page.get_by_label("Verification scheme")
        # THEN its schemes are the served ones, in order, labels shown as text
        labels = picker.locator("option").all_text_contents()
        assert labels == [spec["label"] for spec in served["schemes"]]
        assert picker.input_value() == first["name"]
        # ... and the fields follow the served metadata: the new option is there, as text
        expect(page.get_by_label("Region <b>bold</b>")).to_be_visible()
        expect(page.get_by_text("<script>document.title=2</script>")).to_be_visible()
        assert page.locator("main img, main b, main script").count() == 0
        assert page.title() not in ("1", "2")
        # ... and the fields change with the served metadata of the scheme picked
        picker.select_option("stripe")
        expect(page.get_by_label("Region <b>bold</b>")).to_have_count(0)
        expect(page.get_by_label("Signing secret (whsec_…)")).to_be_visible()
        s.guard.check(page)

"""Source options are validated as strictly as the scheme reads them: 400 invalid_options naming the field.

Each case was accepted before (and then either did nothing, or quietly weakened a rule); each is refused
on create and on PATCH, and nothing is stored or changed.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.api.sources import parse_create as parse_create_source
from chalicelib.api.sources import parse_update as parse_update_source
from chalicelib.errors import ValidationError
from chalicelib.verification import OptionError, check_options
from tests.conftest import GITHUB_SECRET, Services

GH = {"scheme": "github", "secrets": [GITHUB_SECRET]}


def _v(scheme: str, secrets: list[str] | None = None, **options: Any) -> dict[str, Any]:
    return {"scheme": scheme, "secrets": secrets or ["s3cr3t-value"], "options": options}


REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"dedupe": "json:"}, "dedupe"),
    ({"dedupe": "json:/"}, "dedupe"),
    ({"dedupe": "json:/a//b"}, "dedupe"),
    ({"dedupe": "json:/a~2"}, "dedupe"),
    ({"dedupe": "json:id"}, "dedupe"),
    ({"dedupe": "header:"}, "dedupe"),
    ({"dedupe": "header: X-Id"}, "dedupe"),
    ({"dedupe": "header:X Id"}, "dedupe"),
    ({"dedupe": "header:X-Id\r\n"}, "dedupe"),
    ({"verification": {**GH, "secret": "typo"}}, "verification.secret"),
    ({"verification": _v("github", allow_sha1="true")}, "verification.options.allow_sha1"),
    ({"verification": _v("github", allow_sha_1=True)}, "verification.options.allow_sha_1"),
    ({"verification": _v("github", x="A")}, "verification.options.x"),
    ({"verification": _v("github", future_tolerance=5)}, "verification.options.future_tolerance"),
    ({"verification": _v("stripe", future_tolerance=-1)}, "verification.options.future_tolerance"),
    ({"verification": _v("stripe", future_tolerance=True)}, "verification.options.future_tolerance"),
    ({"verification": _v("meta", verify_token="")}, "verification.options.verify_token"),
    ({"verification": _v("hmac")}, "verification.options.header"),
    ({"verification": _v("hmac", header="")}, "verification.options.header"),
    ({"verification": _v("hmac", header="X Sig")}, "verification.options.header"),
    ({"verification": _v("hmac", header="X-Sig", algorithm="sha3")}, "verification.options.algorithm"),
    ({"verification": _v("hmac", header="X-Sig", encoding="b64")}, "verification.options.encoding"),
    ({"verification": _v("hmac", header="X-Sig", template="{bdy}")}, "verification.options.template"),
    ({"verification": _v("hmac", header="X-Sig", separator="")}, "verification.options.separator"),
    (
        {"verification": _v("hmac", header="X-Sig", timestamp_header="")},
        "verification.options.timestamp_header",
    ),
    ({"verification": _v("hmac", header="X-Sig", template="{id}.{body}")}, "verification.options.template"),
    (
        {"verification": _v("hmac", header="X-Sig", template="{timestamp}.{body}")},
        "verification.options.template",
    ),
    ({"verification": _v("token", header="Auth orization")}, "verification.options.header"),
    ({"verification": _v("token", prefix=5)}, "verification.options.prefix"),
    ({"verification": _v("square", notification_url="/in/x")}, "verification.options.notification_url"),
    ({"verification": _v("twilio", algorithm="md5")}, "verification.options.algorithm"),
    ({"verification": _v("twilio", signed_url="")}, "verification.options.signed_url"),
    ({"verification": _v("github", signed_url="https://h.example/in/x")}, "verification.options.signed_url"),
    (
        {"verification": _v("svix", ["whsec_" + "a" * 32], tolerance_future=1)},
        "verification.options.tolerance_future",
    ),
    ({"basic_auth": [":pass"]}, "basic_auth"),
    ({"basic_auth": ["user:"]}, "basic_auth"),
    ({"mtls": {"subject": ["CN=client"]}}, "mtls.subject"),
    ({"mtls": {"subjects": [""]}}, "mtls.subjects"),
    # Issue 19 (security 17): a rule naming no subject and no issuer accepts any certificate.
    ({"mtls": {}}, "mtls"),
    ({"mtls": {"subjects": [], "issuers": None}}, "mtls"),
]


@pytest.mark.parametrize(("fields", "field"), REFUSED, ids=[f for _, f in REFUSED])
def test_a_degenerate_option_is_refused_on_create(
    services: Services, fields: dict[str, Any], field: str
) -> None:
    # GIVEN a source document with one degenerate option
    doc = {"name": "x", "verification": GH, **fields}
    # WHEN it is created THEN 400 invalid_options naming the field, and nothing is stored
    with pytest.raises(ValidationError) as err:
        services.sources.create(parse_create_source(doc))
    assert (err.value.status, err.value.code, err.value.field) == (400, "invalid_options", field)
    assert services.store.sources == {}


@pytest.mark.parametrize(("fields", "field"), REFUSED, ids=[f for _, f in REFUSED])
def test_a_degenerate_option_is_refused_on_patch(
    services: Services, fields: dict[str, Any], field: str
) -> None:
    # GIVEN an existing source
    source_id = services.github_source()
    before = services.store.get_source(source_id)
    # WHEN a PATCH sets the degenerate option THEN 400 invalid_options naming the field, and nothing changes
    with pytest.raises(ValidationError) as err:
        services.sources.update(source_id, parse_update_source(fields))
    assert (err.value.code, err.value.field) == ("invalid_options", field)
    assert services.store.get_source(source_id) == before


@pytest.mark.parametrize(
    "fields",
    [
        {"dedupe": "json:/id"},
        {"dedupe": "json:/data/0/a~1b~0c"},
        {"dedupe": "header:X-Request-Id"},
        {"dedupe": "body"},
        {"dedupe": None},
        {"verification": _v("github", allow_sha1=True)},
        {"verification": _v("stripe", ["whsec_k"], future_tolerance=30)},
        {"verification": _v("meta", verify_token="vt")},
        {"verification": _v("twilio", signed_url="https://h.example/in/x?a=1", algorithm="sha256")},
        {"verification": _v("square", notification_url="https://h.example/in/x")},
        {"verification": _v("token", header="X-Token", prefix="Bearer ")},
        {
            "verification": _v(
                "hmac",
                header="X-Sig",
                template="{id}.{timestamp}.{body}",
                id_header="X-Id",
                timestamp_header="X-Ts",
            )
        },
        {"basic_auth": ["user:pa:ss"]},
        {"mtls": {"subjects": ["CN=client"]}},
        {"mtls": {"issuers": ["CN=Private CA"]}},
        {"mtls": None},
    ],
)
def test_usable_options_are_kept(services: Services, fields: dict[str, Any]) -> None:
    # GIVEN a source document with usable options WHEN created THEN it is stored
    source = services.sources.create(parse_create_source({"name": "x", "verification": GH, **fields}))
    assert services.store.get_source(source.id) == source


def test_check_options_is_usable_on_its_own() -> None:
    # GIVEN the verification library's check, without Hookway's sources layer
    check_options("hmac", {"header": "X-Sig", "algorithm": "sha512"})
    # WHEN an option is unusable THEN OptionError names it, with the library's stable reason
    with pytest.raises(OptionError) as err:
        check_options("hmac", {"header": "X-Sig", "algorithm": "sha3"})
    assert (err.value.reason, err.value.option) == ("invalid_options", "algorithm")


STRIPE = {"scheme": "stripe", "secrets": ["whsec_test"]}


@pytest.mark.parametrize(
    "doc",
    [
        # stripe signs a timestamp valid 300 s either side: a copy replays for 600 s
        {"verification": STRIPE, "replay_window": 599},
        {"verification": {**STRIPE, "tolerance": 3600}, "replay_window": 3600},
        {
            "verification": _v(
                "hmac", header="X-Sig", timestamp_header="X-Ts", template="{timestamp}.{body}"
            ),
            "replay_window": 60,
        },
        {"verification": _v("standard", ["whsec_" + "a" * 32], future_tolerance=0), "replay_window": 299},
    ],
)
def test_a_replay_window_shorter_than_the_signature_is_refused(
    services: Services, doc: dict[str, Any]
) -> None:
    # GIVEN a source whose dedupe memory would end while its signed requests still verify
    # WHEN it is created, or an existing source is changed to it THEN 400 naming replay_window
    with pytest.raises(ValidationError) as err:
        services.sources.create(parse_create_source({"name": "x", **doc}))
    assert (err.value.status, err.value.code, err.value.field) == (
        400,
        "replay_window_too_short",
        "replay_window",
    )
    assert services.store.sources == {}
    sid = services.sources.create(parse_create_source({"name": "x", "verification": doc["verification"]})).id
    before = services.store.get_source(sid)
    with pytest.raises(ValidationError) as err:
        services.sources.update(sid, parse_update_source({"replay_window": doc["replay_window"]}))
    assert err.value.field == "replay_window"
    assert services.store.get_source(sid) == before


def test_raising_the_tolerance_past_the_window_is_refused_too(services: Services) -> None:
    sid = services.sources.create(
        parse_create_source({"name": "x", "verification": STRIPE, "replay_window": 600})
    ).id
    with pytest.raises(ValidationError) as err:
        services.sources.update(sid, parse_update_source({"verification": {**STRIPE, "tolerance": 301}}))
    assert (err.value.code, err.value.field) == ("replay_window_too_short", "replay_window")
    # exactly the signature's validity is enough; a scheme with no timestamp has no constraint
    services.sources.update(sid, parse_update_source({"verification": {**STRIPE, "tolerance": 300}}))
    assert (
        services.sources.create(
            parse_create_source({"name": "g", "verification": GH, "replay_window": 60})
        ).replay_window
        == 60
    )

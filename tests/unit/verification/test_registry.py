"""The self-describing registry: adding a scheme is one module and one entry in ``REGISTRY``.

Every registered scheme must carry complete metadata and a sample signer whose requests its verifier
accepts (and refuses under another secret); the served metadata, the option checks, the console's form
and the CLI all derive from it, so no product file outside ``chalicelib/verification`` names a scheme.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from chalicelib import schemes as catalog
from chalicelib.outbound.signing import MODES
from chalicelib.verification import (
    REGISTRY,
    SCHEMES,
    OptionError,
    Scheme,
    VerificationError,
    canonical_scheme,
    challenge_reply,
    check_options,
    describe_schemes,
    scheme_names,
    verify,
)
from chalicelib.verification.options import KINDS

ROOT = Path(__file__).resolve().parents[3]
NOW = 1_700_000_000
URL = "https://hooks.example.com/in/src_1"
BY_NAME = {spec.name: spec for spec in REGISTRY}


def _sample(spec: Scheme, event: str | None = None) -> tuple[str, Any]:
    signing, held = spec.sample_keys(spec.example_key)
    sample = spec.sample(signing, event or spec.sample_event, NOW, URL, spec.sample_options)
    return held, sample


def test_names_and_aliases_are_unique_and_are_the_scheme_table() -> None:
    # GIVEN the registry WHEN its names and aliases are listed THEN none repeats and they are SCHEMES
    names = [spec.name for spec in REGISTRY]
    aliases = [alias for spec in REGISTRY for alias in spec.aliases]
    assert len(set(names)) == len(names) == 24
    assert len(set(names + aliases)) == len(names) + len(aliases)
    assert scheme_names() == sorted(names + aliases)
    for spec in REGISTRY:
        assert all(canonical_scheme(alias) == spec.name for alias in spec.aliases)
        assert SCHEMES[spec.name] is spec.verify


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_every_scheme_has_complete_metadata(name: str) -> None:
    spec = BY_NAME[name]
    # THEN each field a front shows is filled in and consistent
    assert re.fullmatch(r"[a-z][a-z0-9-]*", spec.name)
    assert spec.label.strip() and spec.key_label.strip() and spec.signs.strip() and spec.sample_event.strip()
    assert all(re.fullmatch(r"[A-Za-z0-9-]+", header) for header in spec.headers)
    assert spec.timestamp_header is None or spec.timestamp_header in spec.headers
    assert spec.timestamp or (spec.tolerance is None and spec.timestamp_header is None)
    if spec.timestamp:
        assert "future_tolerance" in spec.options  # a window has a future side to narrow
    for option_name, option in spec.options.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", option_name)
        assert option.kind in KINDS and option.label.strip()
        assert bool(option.choices) == (option.kind == "choice")
    if spec.handshake is not None:
        assert spec.handshake.method in ("GET", "POST") and spec.handshake.description.strip()
    # AND its served form is plain JSON that never carries the example secret
    served = json.dumps(spec.describe())
    assert spec.example_key not in served
    assert json.loads(served)["name"] == name


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_every_sample_verifies_and_fails_under_another_secret(name: str) -> None:
    spec = BY_NAME[name]
    # GIVEN a sample signed the way the provider signs
    held, sample = _sample(spec)
    request: dict[str, Any] = {
        "method": "POST",
        "url": URL,
        "headers": sample.headers,
        "body": sample.body,
        "now": NOW,
        "options": spec.sample_options,
    }
    # WHEN the scheme's verifier checks it with the secret the source holds THEN it passes
    verified = verify(name, secrets=[held], **request)
    assert verified.delivery_id == sample.delivery_id or sample.delivery_id is None
    # AND with any other secret it fails (the sample is really signed)
    other = _sample(spec)[0] if name == "sendgrid" else held[:-1] + ("x" if held[-1] != "x" else "y")
    if name == "standard":
        other = "whsec_" + "A" * 32
    if name == "basic":
        other = "hookway:wrong password"
    with pytest.raises(VerificationError) as err:
        verify(name, secrets=[other], **request)
    assert err.value.reason in ("signature_mismatch", "bad_credentials")
    # AND its sample options are options the scheme accepts
    check_options(name, dict(spec.sample_options))


@pytest.mark.parametrize("name", sorted(name for name, spec in BY_NAME.items() if spec.timestamp_header))
def test_timestamped_samples_go_stale(name: str) -> None:
    # GIVEN a sample of a scheme with a signed timestamp WHEN checked an hour later THEN it is too old
    spec = BY_NAME[name]
    held, sample = _sample(spec)
    with pytest.raises(VerificationError) as err:
        verify(
            name,
            secrets=[held],
            method="POST",
            url=URL,
            headers=sample.headers,
            body=sample.body,
            now=NOW + 3600,
            tolerance=300,
            options=spec.sample_options,
        )
    assert err.value.reason == "timestamp_too_old"


def test_option_checks_come_from_the_declarations() -> None:
    # GIVEN each declared option WHEN given a value of the wrong kind THEN check_options refuses it by name
    wrong = {
        "flag": "yes",
        "text": 5,
        "header": "not a header",
        "url": "ftp:/x",
        "seconds": -1,
        "choice": "?",
    }
    for spec in REGISTRY:
        for option_name, option in spec.options.items():
            with pytest.raises(OptionError) as err:
                check_options(spec.name, {**spec.sample_options, option_name: wrong[option.kind]})
            assert err.value.option == option_name
        with pytest.raises(OptionError):
            check_options(spec.name, {"no_such_option": True})


def test_handshakes_are_declared_by_their_schemes() -> None:
    with_handshake = sorted(spec.name for spec in REGISTRY if spec.handshake)
    assert with_handshake == ["meta", "slack", "x", "zoom"]
    # A scheme without one answers no handshake, even to Meta's query.
    query = {"hub.mode": "subscribe", "hub.verify_token": "t", "hub.challenge": "c"}
    assert challenge_reply("github", secrets=["s"], method="GET", query=query, headers={}, body=b"") is None


def test_the_served_catalog_is_the_registries() -> None:
    # GIVEN the document GET /v1/schemes serves
    doc = catalog.describe()
    # THEN it lists every scheme in registry order with its own metadata, and every signing mode
    assert [s["name"] for s in doc["schemes"]] == [spec.name for spec in REGISTRY]
    own = {d["name"]: d for d in describe_schemes()}
    for served in doc["schemes"]:
        extra = [o["name"] for o in served["options"] if o not in own[served["name"]]["options"]]
        assert extra == (["signed_url"] if BY_NAME[served["name"]].signs_url else [])
    assert [m["name"] for m in doc["signing_modes"]] == [mode.name for mode in MODES]
    # AND it holds no secret: no example key, nothing shaped like a generated signing secret
    text = json.dumps(doc)
    assert not any(spec.example_key in text for spec in REGISTRY)
    assert not re.search(r"wh(sec|sk|pk)_[A-Za-z0-9+/]{8,}", text)


#: Product files that once held a copy of the scheme list; now they read the registry or the API.
FRONTS = [
    "chalicelib/web/sources.js",
    "chalicelib/sources.py",
    "hookway_cli/explain.py",
    "hookway_cli/signers.py",
    "hookway_cli/commands/send.py",
    "hookway_cli/commands/sources.py",
    "hookway_cli/commands/verify.py",
]


@pytest.mark.parametrize("path", FRONTS)
def test_no_front_keeps_its_own_list_of_schemes(path: str) -> None:
    # GIVEN schemes that only their own module should name WHEN a front's source is read
    text = (ROOT / path).read_text(encoding="utf-8").lower()
    # THEN none of them appears there: adding a scheme does not touch the front
    for name in ("woocommerce", "pagerduty", "docusign", "mailgun", "paddle", "sendgrid", "google-code"):
        assert name not in text, f"{path} names the {name} scheme"


def test_the_readme_and_the_api_document_describe_every_scheme_and_option() -> None:
    # GIVEN the README's table of schemes and the API document's description of the options
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Verification schemes") : readme.index("## API")]
    import yaml

    api = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    options_doc = api["components"]["schemas"]["VerificationOptions"]["description"]
    # THEN each registered scheme has a row, and each option it takes is named in the document
    for spec in REGISTRY:
        assert f"`{spec.name}`" in table, f"README has no row for {spec.name}"
        for name in [*spec.options, *catalog.INGEST_OPTIONS.get(spec.name, {})]:
            assert f"`{name}`" in options_doc, f"VerificationOptions does not mention {spec.name}'s {name}"


@pytest.mark.parametrize("path", ["chalicelib/web/endpoints.js", "chalicelib/endpoints.py"])
def test_no_front_keeps_its_own_list_of_signing_modes(path: str) -> None:
    # GIVEN the signing modes' names WHEN the endpoint form and service are read THEN they name none:
    # the form reads GET /v1/schemes and the service reads MODES
    text = (ROOT / path).read_text(encoding="utf-8")
    for mode in MODES:
        if mode.name != "standard":  # a word too common to search for
            assert f'"{mode.name}"' not in text, f"{path} names the {mode.name} signing mode"


def test_the_lazy_table_names_what_each_scheme_module_declares() -> None:
    # GIVEN the table that lets a request load only its own scheme's module (cold start)
    from chalicelib import verification

    # THEN each row's module and attribute hold the Scheme of that name, with those aliases, in that order
    rows = [(spec.name, spec.aliases) for spec in REGISTRY]
    assert rows == [(name, aliases) for name, _, _, aliases in verification._TABLE]
    for name, module, attribute, _ in verification._TABLE:
        assert getattr(import_module(f"chalicelib.verification.{module}"), attribute) is BY_NAME[name]


def test_verifying_one_scheme_loads_only_its_module() -> None:
    code = (
        "import sys, hmac, hashlib\n"
        "from chalicelib.verification import verify\n"
        "body = b'{}'\n"
        "sig = 'sha256=' + hmac.new(b'k', body, hashlib.sha256).hexdigest()\n"
        "verify('github', secrets=['k'], method='POST', url='https://h/in/x',"
        " headers={'x-hub-signature-256': sig}, body=body)\n"
        "print(*sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('chalicelib.verification.')))\n"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["_common", "_samples", "github", "handshake", "options", "scheme"]

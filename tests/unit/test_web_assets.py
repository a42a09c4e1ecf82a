"""The console's and portal's files: what they may contain, what they weigh, what serving them costs."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "chalicelib" / "web"
SCRIPTS = sorted(WEB.glob("*.js"))
PAGES = sorted(WEB.glob("*.html"))

# Ways a string becomes markup or code in a page. Every value shown is text: dom.h() and textContent.
FORBIDDEN = re.compile(
    r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*['\"]on"
    r"|\.setHTML|createContextualFragment|srcdoc"
)


def test_only_servable_files_are_shipped() -> None:
    from chalicelib.api.pages import ASSET_TYPES

    for path in WEB.iterdir():
        assert path.suffix in (*ASSET_TYPES, ".html"), path.name
        assert re.fullmatch(r"[a-z0-9-]+\.[a-z]+", path.name), path.name


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_script_turns_text_into_markup_or_code(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not FORBIDDEN.findall(text), path.name


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_have_nothing_inline_for_the_policy_to_allow(path: Path) -> None:
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert "<style" not in html and " style=" not in html, "inline style"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "a file from another origin"


def test_every_module_a_page_loads_exists() -> None:
    for script in SCRIPTS:
        for name in re.findall(r"from \"\./([a-z0-9-]+\.js)\"", script.read_text(encoding="utf-8")):
            assert (WEB / name).is_file(), f"{script.name} imports {name}"


def test_the_assets_add_less_than_300_kb_compressed() -> None:
    compressed = sum(len(gzip.compress(p.read_bytes(), 9)) for p in WEB.iterdir())
    assert compressed < 300 * 1024, compressed


def test_serving_a_page_imports_nothing_app_py_did_not() -> None:
    # GIVEN app.py imported as the Lambda does, WHEN the console, an asset and the redirect are served
    # through the Lambda entry point, THEN no module is imported that was not loaded already (the portal
    # reads its frame ancestors from the deployment's Settings, so it is served last, apart).
    probe = """
import json, sys
import app
before = set(sys.modules)
def event(path, resource):
    return {"resource": resource, "path": path, "httpMethod": "GET", "headers": {"Host": "h"},
            "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": {"name": "console.js"} if "{name}" in resource else None,
            "stageVariables": None, "body": None, "isBase64Encoded": False,
            "requestContext": {"resourcePath": resource, "httpMethod": "GET", "path": path, "stage": "api"}}
statuses = [app.app(event(p, r), None)["statusCode"] for p, r in
            (("/console", "/console"), ("/assets/console.js", "/assets/{name}"), ("/", "/"))]
new = sorted(set(sys.modules) - before)
statuses.append(app.app(event("/portal", "/portal"), None)["statusCode"])
print(json.dumps({"statuses": statuses, "new": new}))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"statuses": [200, 200, 302, 200], "new": []}


@pytest.mark.parametrize("page", ["console", "portal"])
def test_each_page_preloads_every_module_it_imports(page: str) -> None:
    # The browser then fetches them all at once instead of one import level after another.
    html = (WEB / f"{page}.html").read_text(encoding="utf-8")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="assets/([a-z0-9-]+\.js)">', html))
    imported: set[str] = set()
    todo = [f"{page}.js"]
    while todo:
        name = todo.pop()
        for dep in re.findall(r"from \"\./([a-z0-9-]+\.js)\"", (WEB / name).read_text(encoding="utf-8")):
            if dep not in imported:
                imported.add(dep)
                todo.append(dep)
    assert preloaded == imported


@pytest.mark.parametrize(
    ("path", "location"), [("/", "/console"), ("/api/", "/api/console"), ("/api", "/api/console")]
)
def test_the_front_page_redirects_to_the_console_under_the_same_prefix(path: str, location: str) -> None:
    import app

    event = {
        "resource": "/",
        "path": "/",
        "httpMethod": "GET",
        "headers": {"Host": "h"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/", "httpMethod": "GET", "path": path, "stage": "api"},
    }
    answer = app.app(event, None)
    assert (answer["statusCode"], answer["headers"]["Location"]) == (302, location)

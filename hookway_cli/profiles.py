"""Where to connect: ``--url``/``--key``, else ``HOOKWAY_URL``/``HOOKWAY_ADMIN_KEY``, else a saved profile.

Profiles live in ``$HOOKWAY_CONFIG_DIR`` or ``$XDG_CONFIG_HOME/hookway`` or ``~/.config/hookway``, in
``profiles.json`` (mode 0600, written through a temporary file so a crash never leaves half a file). The
profile used is ``--profile``, else ``HOOKWAY_PROFILE``, else the one ``hookway login`` saved last.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookway_cli.errors import UsageError

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Connection:
    """The API to call, the key to call it with, and where each came from (for ``whoami``)."""

    url: str
    key: str | None
    url_from: str
    key_from: str
    profile: str | None


def config_dir(env: Mapping[str, str]) -> Path:
    """The directory that holds ``profiles.json``."""
    if env.get("HOOKWAY_CONFIG_DIR"):
        return Path(env["HOOKWAY_CONFIG_DIR"])
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "hookway"


def load(env: Mapping[str, str]) -> dict[str, Any]:
    """The saved profiles: ``{"current": name, "profiles": {name: {"url", "key"}}}``."""
    file = config_dir(env) / "profiles.json"
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"current": None, "profiles": {}}
    except (OSError, ValueError) as exc:
        raise UsageError(f"{file} is unreadable ({exc.__class__.__name__}); fix or remove it") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), dict):
        raise UsageError(f"{file} is not a Hookway profiles file; fix or remove it")
    return doc


def save(env: Mapping[str, str], name: str, url: str, key: str) -> Path:
    """Add or replace a profile and make it the current one; the file is readable by its owner only."""
    doc = load(env)
    doc["profiles"][name] = {"url": url.rstrip("/"), "key": key}
    doc["current"] = name
    directory = config_dir(env)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    file = directory / "profiles.json"
    tmp = directory / ".profiles.json.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(doc, out, indent=2)
    os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    os.replace(tmp, file)
    return file


def resolve(env: Mapping[str, str], *, url: str | None, key: str | None, profile: str | None) -> Connection:
    """The connection the flags, the environment and the profiles give, in that order."""
    name = profile or env.get("HOOKWAY_PROFILE")
    saved: dict[str, Any] = {}
    if name or not (url or env.get("HOOKWAY_URL")) or not (key or env.get("HOOKWAY_ADMIN_KEY")):
        doc = load(env)
        if name and name not in doc["profiles"]:
            raise UsageError(
                f"no profile named {name!r}; save it first with `hookway login --name {name} --url URL --key KEY`"
            )
        name = name or doc.get("current")
        saved = doc["profiles"].get(name, {}) if name else {}
    used = name if saved else None
    if url:
        chosen_url, url_from = url, "--url"
    elif env.get("HOOKWAY_URL"):
        chosen_url, url_from = env["HOOKWAY_URL"], "HOOKWAY_URL"
    elif saved.get("url"):
        chosen_url, url_from = saved["url"], f"profile {used}"
    else:
        chosen_url, url_from = DEFAULT_URL, "default"
    if key:
        chosen_key, key_from = key, "--key"
    elif env.get("HOOKWAY_ADMIN_KEY"):
        chosen_key, key_from = env["HOOKWAY_ADMIN_KEY"], "HOOKWAY_ADMIN_KEY"
    elif saved.get("key"):
        chosen_key, key_from = saved["key"], f"profile {used}"
    else:
        chosen_key, key_from = None, "none"
    if not chosen_url.startswith(("http://", "https://")):
        raise UsageError(f"the API URL must start with http:// or https://, not {chosen_url!r}")
    return Connection(chosen_url.rstrip("/"), chosen_key, url_from, key_from, used)


def key_hint(key: str | None) -> str:
    """A key as ``whoami`` shows it: its kind and last four characters, never the whole key."""
    if not key:
        return "(none)"
    kind = "portal token" if key.startswith("hkt_") else "admin key"
    return f"{kind} …{key[-4:]}" if len(key) > 8 else kind

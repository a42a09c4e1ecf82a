"""Which listen session a ``hookway listen`` command had: kept in the config directory
(``listen-sessions.json``, mode 0600), keyed by the API, the profile, the forward URL and the filters, so
the same command run again resumes its session."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hookway_cli import profiles

SESSIONS_FILE = "listen-sessions.json"


class SessionMemory:
    """Which session a given listen command had, in the config directory (mode 0600)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.file = profiles.config_dir(env) / SESSIONS_FILE

    @staticmethod
    def key(
        conn: profiles.Connection, forward: str, events: list[str], sources: list[str], app: str | None
    ) -> str:
        """The command's identity: API, profile, forward URL and filters (order and repeats ignored)."""
        doc = [conn.url, conn.profile, forward, sorted(set(events)), sorted(set(sources)), app]
        return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:32]

    def _load(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def recall(self, key: str) -> str | None:
        """The session id remembered for this command, if any."""
        entry = self._load().get(key)
        session = entry.get("session_id") if isinstance(entry, dict) else None
        return session if isinstance(session, str) else None

    def remember(self, key: str, session_id: str, expires_at: float | None, now: float) -> None:
        """Keep this command's session (dropping entries whose session has ended); OSError if unwritable."""
        doc = {
            k: v
            for k, v in self._load().items()
            if isinstance(v, dict) and float(v.get("expires_at") or 0) > now
        }
        doc[key] = {"session_id": session_id, "expires_at": expires_at}
        self._write(doc)

    def forget(self, key: str) -> None:
        """Drop this command's session (it has ended)."""
        doc = self._load()
        if doc.pop(key, None) is not None:
            with contextlib.suppress(OSError):  # best effort: a stale entry is only a failed resume
                self._write(doc)

    def _write(self, doc: dict[str, Any]) -> None:
        directory: Path = self.file.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = directory / f".{SESSIONS_FILE}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(doc, out, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.file)

"""``make dev`` keeps its state: stopped and started again, it has what it had and finishes the deliveries
it had begun; ``make dev FRESH=1`` starts empty."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from testkit.receivers import Receivers, Step
from testkit.stack import wait_until

ROOT = Path(__file__).resolve().parents[2]
GITHUB_PING = {
    "X-GitHub-Event": "ping",
    "X-GitHub-Delivery": "restart-1",
    "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
}


class Dev:
    """One run of ``python -m local dev`` (what ``make dev`` runs), in its own process group."""

    def __init__(self, log: Path, local_dir: Path, *args: str) -> None:
        env = {
            **os.environ,
            "HOOKWAY_PORT": "0",
            "HOOKWAY_DEMO_PORT": "0",
            "HOOKWAY_LOCAL_DIR": str(local_dir),
            # Like the session's workers: endpoint changes reach the sender at once.
            "HOOKWAY_ENDPOINT_CACHE_SECONDS": "0",
        }
        # No key given: make dev makes one, keeps it in its state and must show the same one next time.
        env.pop("HOOKWAY_ADMIN_KEY", None)
        env.pop("HOOKWAY_PUBLIC_URL", None)
        self.log = log
        self._out = log.open("wb")
        self.started = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "local", "dev", *args],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: "\n  state: " in self.text(), timeout=90)
        self.ready = time.time()
        banner = self.text()
        api = re.search(r"API:        (http://127\.0\.0\.1:[0-9]+)\n", banner)
        key = re.search(r"admin key:  (hk_[A-Za-z0-9_-]+)\n", banner)
        assert api and key, banner
        self.base, self.key = api.group(1), key.group(1)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def call(self, method: str, path: str, doc: object | None = None) -> Any:
        data = json.dumps(doc).encode() if doc is not None else None
        headers = {"Authorization": f"Bearer {self.key}"}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def stop(self) -> None:
        """SIGTERM to the whole group, as a terminal's Ctrl-C reaches every process of make dev."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        finally:
            self._out.close()


def test_make_dev_keeps_its_state_and_finishes_pending_deliveries(
    tmp_path: Path, receivers: Receivers
) -> None:
    local_dir = tmp_path / "local"
    # GIVEN make dev with a source, an endpoint whose receiver fails the first attempt (the retry waits
    # 10 s, longer than the stop takes: it is due while make dev is stopped, or soon after it started
    # again) and an inbound webhook that fanned out to it
    first = Dev(tmp_path / "first.log", local_dir)
    try:
        source = first.call(
            "POST",
            "/v1/sources",
            {
                "name": "github",
                "verification": {"scheme": "github", "secrets": ["It's a Secret to Everybody"]},
            },
        )
        endpoint = first.call(
            "POST",
            "/v1/endpoints",
            {"url": receivers.script("/restart", Step(500)), "retry_schedule": [0, 10]},
        )
        req = urllib.request.Request(
            f"{first.base}/in/{source['id']}", data=b"Hello, World!", method="POST", headers=GITHUB_PING
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 202
            message_id = json.loads(resp.read())["id"]

        def first_attempt_failed() -> bool:
            try:
                deliveries = first.call("GET", f"/v1/messages/{message_id}")["deliveries"]
            except urllib.error.HTTPError:
                return False  # still on the ingest queue
            return bool(deliveries) and deliveries[0]["last_response_status"] == 500

        wait_until(first_attempt_failed, timeout=30)
        delivery = first.call("GET", f"/v1/messages/{message_id}")["deliveries"][0]
        assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None
    finally:
        # WHEN make dev stops while the retry waits in the (emulated, in-memory) queue
        first.stop()
    assert first.proc.returncode == 0, first.text()
    assert re.search(r"saved [0-9]+ items", first.text()), first.text()

    # AND starts again on the same state
    second = Dev(tmp_path / "second.log", local_dir)
    try:
        # THEN the same admin key works, and the source, the endpoint and the message are all there
        assert second.key == first.key
        assert "pending deliveries resumed: 1" in second.text(), second.text()
        assert second.call("GET", f"/v1/sources/{source['id']}")["name"] == "github"
        assert second.call("GET", f"/v1/endpoints/{endpoint['id']}")["url"] == endpoint["url"]
        message = second.call("GET", f"/v1/messages/{message_id}")
        assert message["source_id"] == source["id"] and message["event_type"] == "ping"
        listed = second.call("GET", f"/v1/messages?source={source['id']}")["data"]
        assert [m["id"] for m in listed] == [message_id]
        body = urllib.request.Request(
            f"{second.base}/v1/messages/{message_id}/body", headers={"Authorization": f"Bearer {second.key}"}
        )
        with urllib.request.urlopen(body, timeout=10) as resp:
            assert resp.read() == b"Hello, World!"
        # AND the delivery that was waiting for its retry reaches the receiver, once, after the restart
        wait_until(lambda: len(receivers.at("/restart")) >= 2, timeout=60)
        got = receivers.at("/restart")
        assert got[1].started >= second.started
        assert {r.headers["webhook-id"] for r in got} == {message_id}

        def succeeded() -> bool:
            return second.call("GET", f"/v1/messages/{message_id}")["deliveries"][0]["status"] == "succeeded"

        wait_until(succeeded, timeout=30)
        attempts = second.call("GET", f"/v1/messages/{message_id}/attempts")["data"]
        assert sorted((a["attempt"], a["response_status"]) for a in attempts) == [(1, 500), (2, 200)]
        time.sleep(1)
        assert len(receivers.at("/restart")) == 2
    finally:
        second.stop()
    assert second.proc.returncode == 0, second.text()

    # WHEN make dev FRESH=1 starts
    fresh = Dev(tmp_path / "fresh.log", local_dir, "--fresh")
    try:
        # THEN it is empty (and the admin key it kept still works)
        assert fresh.key == first.key
        assert "(started empty: FRESH=1;" in fresh.text(), fresh.text()
        assert fresh.call("GET", "/v1/sources")["data"] == []
        assert fresh.call("GET", "/v1/endpoints")["data"] == []
        assert fresh.call("GET", "/v1/messages")["data"] == []
    finally:
        fresh.stop()

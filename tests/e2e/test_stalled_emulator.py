"""A stalled AWS emulator (SIGSTOP) makes POST /in/{source} answer 503 within 5 seconds, then recovers."""

from __future__ import annotations

import json
import time
import uuid

from testkit.stack import Stack, github_headers, wait_until


def _post(stack: Stack, source_id: str) -> tuple[int, bytes, float]:
    body = json.dumps({"n": uuid.uuid4().hex}).encode()
    started = time.monotonic()
    resp = stack.request(
        "POST", f"/in/{source_id}", body=body, headers=github_headers(body, uuid.uuid4().hex)
    )
    return resp.status, resp.body, time.monotonic() - started


def test_a_stalled_emulator_is_a_503_within_5_seconds(stack: Stack) -> None:
    # GIVEN a source the API has cached (one webhook accepted) and one it has never looked up
    warm = stack.github_source()
    assert _post(stack, warm)[0] == 202
    cold = stack.github_source()
    timings: dict[str, float] = {}
    # WHEN the emulator stalls (it accepts connections and never answers, as SIGSTOP leaves it)
    with stack.emulator_stalled():
        for name, source_id in (("cold: GetItem stalls", cold), ("warm: SendMessage stalls", warm)):
            status, body, seconds = _post(stack, source_id)
            timings[name] = seconds
            # THEN each webhook is refused with 503 storage_unavailable (the provider retries) within 5 s
            assert status == 503, (name, status, body)
            assert json.loads(body)["error"]["code"] == "storage_unavailable"
            assert seconds < 5, f"{name}: {seconds:.2f} s"
    print("503 latency with a stalled emulator:", {k: round(v, 2) for k, v in timings.items()})
    # AND once the emulator runs again, the same source accepts webhooks again
    wait_until(lambda: _post(stack, cold)[0] == 202, timeout=30, interval=0.5)

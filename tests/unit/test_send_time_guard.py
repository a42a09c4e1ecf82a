"""A name that resolves to a public address at registration and to loopback at send time is refused then.

Real sockets: a canary listener on 127.0.0.1 must see no connection at all; the name is resolved by a stub.
"""

from __future__ import annotations

import socket

from chalicelib.api.messages import parse_publish
from chalicelib.outbound import egress
from chalicelib.scope import OPERATOR
from tests.conftest import Services
from tests.unit.test_delivery import World


def test_rebinding_name_is_blocked_at_send_time_and_nothing_connects(services: Services) -> None:
    canary = socket.socket()
    canary.bind(("127.0.0.1", 0))
    canary.listen()
    canary.settimeout(0.3)
    port = canary.getsockname()[1]
    answers = {"hooks.example.test": ["93.184.215.14"]}  # public when the endpoint is registered

    def resolver(host: str, _port: int) -> list[str]:
        return answers[host]

    world = World(services, receiver=None)  # type: ignore[arg-type]
    world.api.__dict__["resolver"] = resolver
    world.endpoints = world.api.endpoints = type(world.endpoints)(
        services.store, world.clock, allow_private=False, https_only=False, resolver=resolver
    )
    world.sender._transport = egress.Transport(allow_private=False, resolver=resolver)
    endpoint, _ = world.endpoint(url=f"http://hooks.example.test:{port}/in", retry_schedule=[0])
    answers["hooks.example.test"] = ["127.0.0.1"]  # ... and loopback when the webhook is sent
    message_id = world.publisher.publish(parse_publish({"event_type": "x", "payload": {}}), OPERATOR)
    try:
        assert world.run() == ["failed"]
        [attempt] = services.store.list_attempts(message_id)
        assert attempt.error_class == "blocked_destination"
        try:
            canary.accept()
            connected = True
        except TimeoutError:
            connected = False
        assert connected is False
    finally:
        canary.close()
    assert endpoint.url.startswith("http://hooks.example.test:")

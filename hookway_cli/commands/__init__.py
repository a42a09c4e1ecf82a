"""The verbs of ``hookway``, one module per resource; each declares its flags beside its handlers.

``MODULES`` is the order ``hookway --help`` lists them in. Adding a verb: declare it in its resource's
module (``@group.command(name, help, arg(...), ...)`` on the handler); adding a resource: a module with a
``verbs = Verbs()`` and one entry here.
"""

from __future__ import annotations

from hookway_cli.commands import (
    applications,
    connection,
    endpoints,
    event_types,
    jobs,
    listen,
    messages,
    recovery,
    send,
    sources,
    verify,
)
from hookway_cli.verbs import Verbs

MODULES: tuple[Verbs, ...] = (
    connection.verbs,  # login, whoami
    sources.verbs,
    endpoints.verbs,
    applications.verbs,
    event_types.verbs,
    send.verbs,  # send, trigger
    messages.verbs,
    recovery.verbs,  # resend, recover, replay
    jobs.verbs,
    listen.verbs,
    verify.verbs,
)

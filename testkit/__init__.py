"""The harness that tests and benchmarks share (never shipped in the Lambda package or the CLI).

* ``testkit.fakes``: the in-memory adapters (one fake per port, and ``MemoryStore`` that is all of them).
* ``testkit.stack``: the local stack as a user runs it (moto server, the API server, queue workers).
* ``testkit.receivers``: real HTTP receivers on loopback, with scripted answers.
* ``testkit.aws``: boto3 clients and resources on the emulator.

``tests/`` and ``bench/`` import it; nothing in ``chalicelib``, ``hookway_cli``, ``local`` or ``infra`` may.
"""

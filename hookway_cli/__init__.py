"""``hookway``: a command-line client of Hookway's HTTP API.

It talks to the API only (never to AWS, never to ``chalicelib`` except the pure verification package
for ``hookway verify``), so it works the same against the local stack and a deployed Hookway. It is not
part of the Lambda package: nothing under ``chalicelib`` imports it, and its dependencies live in
``pyproject.toml``, not ``requirements.txt``.

    __main__   the entry point: parses arguments, resolves the connection, runs one command
    commands/  the verbs, one module per resource (sources, endpoints, messages, listen, verify, ...),
               each declaring its flags beside its handlers (``verbs``: the declarations and argparse)
    context    what a handler gets (arguments, ``Client``, ``Output``, clock) and how errors end it
    client     one method per API operation, each checked against the OpenAPI document by a test
    transport  HTTP as a function ``request -> response`` (urllib for real, a table in tests)
    errors     the error tree and exit codes
    profiles   where to connect: flags, then HOOKWAY_URL / HOOKWAY_ADMIN_KEY, then ``hookway login`` profiles
    output     tables and colour on a terminal (rich, imported lazily), plain text when piped, ``--json``;
               ``printable()`` makes every string from the internet inert
    inputs     times (``2h``, ISO 8601), JSON arguments (``@file``), ``KEY=VALUE`` pairs
    listen     the ``hookway listen`` loop; backoff and sessions: how it rides out lost connections and
               resumes its session
    signers    sample provider webhooks signed per scheme, for ``hookway trigger``
    capture, explain    reading a captured request, and what ``hookway verify`` compared
"""

__version__ = "0.1.0"

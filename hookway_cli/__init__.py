"""``hookway``: a command-line client of Hookway's HTTP API.

It talks to the API only (never to AWS, never to ``chalicelib`` except the pure verification package
for ``hookway verify``), so it works the same against the local stack and a deployed Hookway. It is not
part of the Lambda package: nothing under ``chalicelib`` imports it, and its dependencies live in
``pyproject.toml``, not ``requirements.txt``.

    __main__   the entry point: parses arguments, resolves the connection, runs one command
    commands   one function per verb, each written against ``Client`` and ``Output``
    client     the HTTP client over an injectable transport (a function ``request -> response``)
    profiles   where to connect: flags, then HOOKWAY_URL / HOOKWAY_ADMIN_KEY, then ``hookway login`` profiles
    output     tables and colour on a terminal (rich, imported lazily), plain text when piped, ``--json``
    signers    sample provider webhooks signed per scheme, for ``hookway trigger``
    capture    reading a captured request (headers + body files, or a raw HTTP dump) for ``hookway verify``
"""

__version__ = "0.1.0"

"""The in-memory fakes of the table ports, one module per aggregate (``testkit.fakes.MemoryStore``: all of them)."""

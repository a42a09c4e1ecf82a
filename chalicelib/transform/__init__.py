"""Transformations: an endpoint's JavaScript that reshapes (or cancels) each request sent to it.

``convention`` is pure: the ``webhook`` object a handler gets and the checks on what it returns.
``engine`` runs the code in QuickJS (no I/O, a time and a memory limit per run), compiled once per sender
thread per (endpoint, code) in a bounded cache. The engine's native module is imported on the first
transformation a process meets, never by importing this package.
"""

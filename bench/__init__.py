"""Hookway's benchmarks: each figure measured side by side with its reference in one run.

    python -m bench            the full run (about two minutes; needs 2+ CPUs); writes bench/results.md
    python -m bench --quick    a shortened run, for a smoke test (writes nothing unless --out is given)
    python -m bench --only 1,4 some figures only

1. ``bench.verification``  verification cost per request vs the raw HMAC floor and the reference libraries
2. ``bench.handler``       the ingest handler's CPU per request vs a bare Chalice route (AWS on fakes)
3. ``bench.imports``       ``import app`` in a fresh interpreter vs ``import boto3, chalice``; cold start
4. ``bench.aws_calls``     AWS calls per accepted webhook against moto's server over HTTP
5. ``bench.load``          the local API under 16 concurrent clients vs a bare ThreadingHTTPServer
6. ``bench.outbound``      a batch of 10 deliveries to 200 ms receivers: ``handle_many`` vs one by one
7. ``bench.outbound``      the sender's CPU per delivery vs a bare urllib3 pool POSTing the same request
8. ``bench.delivery_calls`` AWS calls and DynamoDB writes per delivered webhook against moto's server
9. ``bench.cost``          dollars per million webhooks from figure 8's counts and AWS's list prices
10. ``bench.pipeline``     the local stack end to end (throughput, latency) vs the emulator's raw SQS rate

Figure 18 (``bench.memory``): peak RSS and CPU per invocation of each function, the memory chosen for it.

Figures are printed, never asserted: a missed target is reported in the table and the run still exits 0.
The exit status is 1 only when something is broken (a request refused, a server that does not answer).
"""

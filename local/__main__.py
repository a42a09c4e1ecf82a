"""``python -m local``: run Hookway on this machine with no AWS account.

python -m local dev [--fresh]        the whole stack: emulator, API on :8000, queue workers; state
                                     kept in .local/state (--fresh: start empty)
python -m local deploy --endpoint U  create the resources in a running emulator; print the env as JSON
python -m local api [--port P]       only the API server (environment from ``deploy``; port 0: any free one)
python -m local worker --queue Q     only one queue's worker (ingest, deliveries with its slow lane,
                                     deliveries-slow alone, dead-letters)
python -m local schedule [--every S] only the scheduled handlers (the sweep and release step), on the
                                     deployed rate (``@app.schedule``) unless --every says otherwise
python -m local openapi              build chalicelib/api/openapi.json from chalicelib/api/openapi.yaml
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

from local import emulator

if TYPE_CHECKING:
    from local.schedule import Scheduler
    from local.state import LocalState
    from local.worker import Worker

QUEUES = {
    "ingest": ("HOOKWAY_INGEST_QUEUE_URL", "route_ingest"),
    "deliveries": ("HOOKWAY_DELIVERIES_QUEUE_URL", "deliver"),
    "deliveries-slow": ("HOOKWAY_SLOW_DELIVERIES_QUEUE_URL", "deliver_slow"),
    "dead-letters": ("HOOKWAY_DELIVERIES_DLQ_URL", "dead_letters"),
}


def _boto_sqs() -> object:
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=os.environ["HOOKWAY_AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", emulator.REGION),
    )


def _app() -> object:
    sys.path.insert(0, str(emulator.ROOT))
    import app as app_module
    from local.apidoc import write

    write(force=False)  # the JSON the API serves, built from the committed document (when it changed)

    return app_module


def start_worker(
    queue: str, *, wait_seconds: int = 1, on_invoke: Callable[[int, bool], None] | None = None
) -> tuple[Worker, threading.Thread]:
    """Start one queue's worker in a thread of this process."""
    from local.worker import Worker, concurrency

    env_name, handler_name = QUEUES[queue]
    handler = getattr(_app(), handler_name)
    worker = Worker(
        _boto_sqs(),
        os.environ[env_name],
        handler,
        wait_seconds=wait_seconds,
        on_invoke=on_invoke,
        concurrency=concurrency(queue),
    )
    thread = threading.Thread(target=worker.run, name=f"worker-{queue}", daemon=True)
    thread.start()
    return worker, thread


def start_scheduler(every: float | None = None) -> list[tuple[Scheduler, threading.Thread]]:
    """Start the app's scheduled handlers (the sweep, with the release of parked tasks) in threads, each
    on the rate it is deployed with (``every``: another period, in seconds)."""
    from local.schedule import Scheduler, scheduled_rules

    module = _app()
    started = []
    for name, period in scheduled_rules(module.app):  # type: ignore[attr-defined]
        scheduler = Scheduler(
            getattr(module, name),
            every or period,
            rule=name,
            region=os.environ.get("AWS_REGION", emulator.REGION),
        )
        thread = threading.Thread(target=scheduler.run, name=f"schedule-{name}", daemon=True)
        thread.start()
        started.append((scheduler, thread))
    return started


def cmd_schedule(args: argparse.Namespace) -> None:
    """Run the scheduled handlers in the foreground until SIGTERM/SIGINT."""
    started = start_scheduler(args.every)
    print(f"scheduled handlers running: {len(started)}", flush=True)
    _wait_forever(None)
    for scheduler, _ in started:
        scheduler.stop()


def cmd_worker(args: argparse.Namespace) -> None:
    """Run one worker in the foreground until SIGTERM/SIGINT. The deliveries worker also polls the slow
    lane, in a thread of its own (Lambda's second event source mapping, with its own concurrency: one
    poller here), so a stack that starts a deliveries worker has both lanes, and killing it kills both."""
    from local.worker import Worker, concurrency

    lanes = [
        args.queue,
        *(["deliveries-slow"] if args.queue == "deliveries" and not args.no_slow_lane else []),
    ]
    workers = []
    for queue in lanes:
        env_name, handler_name = QUEUES[queue]
        workers.append(
            Worker(
                _boto_sqs(),
                os.environ[env_name],
                getattr(_app(), handler_name),
                wait_seconds=args.wait_seconds,
                concurrency=concurrency(queue, args.concurrency if queue == args.queue else None),
            )
        )
    signal.signal(signal.SIGTERM, lambda *_: [w.stop() for w in workers])
    threads = [threading.Thread(target=w.run, name="worker", daemon=True) for w in workers[1:]]
    for thread in threads:
        thread.start()
    print(f"worker for {', '.join(lanes)} polling", flush=True)
    try:
        workers[0].run()
    except KeyboardInterrupt:
        for worker in workers:
            worker.stop()


def cmd_api(args: argparse.Namespace) -> None:
    """Serve the API in the foreground."""
    from local.gateway import serve

    server = serve(_app().app, port=args.port, verbose=args.verbose)
    base = f"http://127.0.0.1:{server.server_port}"
    # With --port 0 only now is the address known; the container reads it on the first request.
    os.environ.setdefault("HOOKWAY_PUBLIC_URL", base)
    print(f"api listening on {base}", flush=True)
    _wait_forever(server.shutdown)


def cmd_deploy(args: argparse.Namespace) -> None:
    """Deploy the template to a running emulator and print the environment."""
    print(json.dumps(emulator.deploy(args.endpoint)))


def _wait_forever(stop: object) -> None:
    done = threading.Event()
    # SIGINT too, explicitly: a process started in the background inherits it ignored, and a second
    # Ctrl-C must not cut short the save that follows.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    while not done.wait(1):
        pass
    if callable(stop):
        stop()


def cmd_dev(args: argparse.Namespace) -> None:
    """The whole local pipeline in one command, with the state of the last run (``local/state.py``)."""
    from local import state

    saved = state.state_dir(emulator.ROOT, os.environ)
    # .local holds env.json (the admin key) and moto.log beside state/: private, unless HOOKWAY_LOCAL_DIR
    # names a folder of the user's own, whose mode is left alone (its files of ours are made private).
    ours = ("env.json", "moto.log")
    state.private_dir(saved.parent, files=ours, own_folder=not os.environ.get("HOOKWAY_LOCAL_DIR"))
    state.private_dir(saved)
    # One make dev per state folder: two would post every attempt twice and save over each other.
    state.lock(saved)
    demo_port = int(os.environ.get("HOOKWAY_DEMO_PORT", "8001"))
    moto_port = int(os.environ.get("HOOKWAY_MOTO_PORT") or 0)
    for port, setting, what in (
        (args.port, "HOOKWAY_PORT", "the API"),
        (demo_port, "HOOKWAY_DEMO_PORT", "the demo receiver"),
        (moto_port, "HOOKWAY_MOTO_PORT", "the AWS emulator"),
    ):
        _check_port(port, setting, what)
    if args.fresh:
        state.forget(saved)
    keys = state.keys(saved, os.environ)
    # Port 0 (the default for the emulator) lets each server bind a free port itself: no race with
    # other processes between choosing a port and binding it.
    print("starting the AWS emulator (moto server) ...", flush=True)
    moto = emulator.start_moto(moto_port, saved.parent / "moto.log", held=True)
    try:
        env = emulator.deploy(f"http://127.0.0.1:{emulator.moto_port(moto)}")
        os.environ.update(env)
        os.environ.update({"HOOKWAY_STAGE": "local", **keys})
        exceptions = _local_exceptions(os.environ)
        # A log a person follows: one line per webhook; the metric lines only with --verbose.
        os.environ.setdefault("HOOKWAY_METRICS", "true" if args.verbose else "false")
        from local import devlog

        devlog.install(verbose=args.verbose)
        state.write_private(
            saved.parent / "env.json",
            json.dumps({k: os.environ[k] for k in (*env, "HOOKWAY_ADMIN_KEY", "HOOKWAY_STAGE")}).encode(),
        )
        app = _app()
        from chalicelib.config import Settings
        from chalicelib.wiring.api import ApiRoot
        from chalicelib.wiring.base import Shared

        # Its own composition root: the app's is made on the first request, once the public URL is known.
        root = ApiRoot(Shared(Settings.from_env(os.environ)))
        recovery = root.recovery
        kept = state.LocalState(saved, os.environ, client=_boto)
        restored = kept.restore(
            lambda items: recovery.resume(state.pending(items)), backfill=lambda: state.backfill(root.store)
        )
        if not restored.items:  # a new stack: its release step starts now (a restored one has its own)
            emulator.start_release_here(os.environ)
        kept.start_saving()
        from local.gateway import serve

        with _binding(args.port, "HOOKWAY_PORT", "the API"):
            server = serve(app.app, port=args.port, verbose=args.verbose, on_request=kept.touch)  # type: ignore[attr-defined]
        base = f"http://127.0.0.1:{server.server_port}"
        # A URL the user set (a tunnel, for providers that sign the URL they call, such as Twilio) is the
        # one ingest URLs show and signatures are checked against; else the loopback address.
        public = os.environ.setdefault("HOOKWAY_PUBLIC_URL", base).rstrip("/")
        from local import demo_receiver

        demo_secret = os.environ["HOOKWAY_DEMO_SECRET"]
        with _binding(demo_port, "HOOKWAY_DEMO_PORT", "the demo receiver"):
            demo = demo_receiver.serve(demo_port, demo_secret)
        workers = [start_worker(queue, on_invoke=lambda *_: kept.touch()) for queue in QUEUES]
        # The sweep and the release of parked deliveries, on the rate they are deployed with.
        scheduled = start_scheduler()
        shown = "started empty: FRESH=1" if args.fresh else restored.describe()
        kept_line = f"{saved} ({shown}; saved every {state.SAVE_EVERY_SECONDS:g} s and at Ctrl-C)"
        print(
            _banner(
                base,
                public,
                os.environ["HOOKWAY_ADMIN_KEY"],
                demo.server_port,
                demo_secret,
                kept_line,
                exceptions,
            ),
            flush=True,
        )
        _wait_forever(server.shutdown)
        for scheduler, _ in scheduled:
            scheduler.stop()
        _stop(kept, workers, saved)
    finally:
        moto.kill()
        moto.wait(timeout=10)


class DevError(Exception):
    """make dev cannot start; the message is the sentence the person reads."""


def _busy(port: int, setting: str, what: str) -> DevError:
    return DevError(
        f"port {port} on 127.0.0.1, for {what}, is in use (another make dev, or another program): "
        f"stop that, or choose another port with {setting}=..."
    )


def _check_port(port: int, setting: str, what: str) -> None:
    """DevError if ``port`` (0: any free one, never busy) cannot be bound on loopback now."""
    if port == 0:
        return
    with socket.socket() as probe, _binding(port, setting, what):
        # As the servers bind: a port whose last connections are in TIME_WAIT is free to listen on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


@contextlib.contextmanager
def _binding(port: int, setting: str, what: str) -> Iterator[None]:
    """A busy port as a sentence (DevError), not a traceback."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise _busy(port, setting, what) from None


# What only the local stack allows, each an explicit setting (chalicelib.config refuses them elsewhere).
LOCAL_EXCEPTIONS = ("HOOKWAY_ALLOW_PRIVATE_DESTINATIONS", "HOOKWAY_ALLOW_HTTP", "HOOKWAY_INSECURE_COOKIES")


def _local_exceptions(environ: MutableMapping[str, str]) -> str:
    """Turn on the local stack's exceptions (demo receivers on 127.0.0.1 over http, the console's cookie
    over http) unless a public URL that is not loopback (a tunnel) makes the stack reachable from
    outside; returns the banner's line about it."""
    from chalicelib.config import loopback_host

    public = environ.get("HOOKWAY_PUBLIC_URL", "")
    if public and not loopback_host(public):
        return (
            f"HOOKWAY_PUBLIC_URL ({public}) is not loopback: private and plain-http destinations are refused"
        )
    for name in LOCAL_EXCEPTIONS:
        environ.setdefault(name, "true")
    return "endpoints may be http:// and private addresses (not the AWS emulator): this machine only"


def _boto(service: str) -> object:
    import boto3

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=os.environ["HOOKWAY_AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", emulator.REGION),
    )


def _stop(kept: LocalState, workers: list[tuple[Worker, threading.Thread]], saved: Path) -> None:
    """A clean stop: the API is down; let the router drain the ingest queue, stop the workers, save."""
    started = time.monotonic()
    print("stopping: saving the state ...", flush=True)
    kept.drain(os.environ["HOOKWAY_INGEST_QUEUE_URL"])
    for worker, _ in workers:
        worker.stop()
    for _, thread in workers:
        thread.join(timeout=5)
    kept.stop_saving()
    queued = kept.save_queues()
    items = kept.save()
    took = time.monotonic() - started
    print(f"saved {items} items and {queued} queued webhooks to {saved} in {took:.1f} s", flush=True)


def _banner(
    base: str, public: str, key: str, demo_port: int, demo_secret: str, kept: str, destinations: str
) -> str:
    shown = f"\n  public URL: {public}" if public != base else ""
    return f"""
Hookway is running (stage: local, AWS emulated by moto).
  API:        {base}{shown}
  console:    {base}/console (sign in with the admin key)
  admin key:  {key}
  demo receiver: http://127.0.0.1:{demo_port}/hooks (verifies with {demo_secret})
  state:      {kept}
  destinations: {destinations}

Try it:
  export HOOKWAY_ADMIN_KEY={key}
  curl -s {base}/v1/sources -H "Authorization: Bearer $HOOKWAY_ADMIN_KEY" \\
    -d '{{"name": "github", "verification": {{"scheme": "github", "secrets": ["It'"'"'s a Secret to Everybody"]}}}}'
  # then, with the id it returns:
  curl -s {base}/in/<source id> -H 'X-GitHub-Event: ping' -H 'X-GitHub-Delivery: 1' \\
    -H 'X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' \\
    --data-binary 'Hello, World!'
  curl -s {base}/v1/messages?source=<source id> -H "Authorization: Bearer $HOOKWAY_ADMIN_KEY"
  # deliver everything to the demo receiver (it verifies and prints what it gets; /fail answers 500, /gone 410):
  curl -s {base}/v1/endpoints -H "Authorization: Bearer $HOOKWAY_ADMIN_KEY" -d '{{"url": "http://127.0.0.1:{demo_port}/hooks", "secret": "{demo_secret}"}}'
  curl -s {base}/v1/messages -H "Authorization: Bearer $HOOKWAY_ADMIN_KEY" -d '{{"event_type": "order.created", "payload": {{"id": 1}}}}'
(Ctrl-C stops everything.)
"""


def cmd_openapi(args: argparse.Namespace) -> None:
    """Build the served JSON of the OpenAPI document."""
    from local.apidoc import write

    for path in write():
        print(f"wrote {path}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run a verb."""
    logging.basicConfig(
        level=os.environ.get("HOOKWAY_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    parser = argparse.ArgumentParser(
        prog="python -m local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    dev = sub.add_parser("dev", help="the whole stack")
    dev.add_argument("--port", type=int, default=int(os.environ.get("HOOKWAY_PORT", "8000")))
    dev.add_argument("--verbose", action="store_true")
    dev.add_argument("--fresh", action="store_true", help="start empty: forget the saved state (FRESH=1)")
    dev.set_defaults(func=cmd_dev)
    api = sub.add_parser("api", help="only the API server")
    api.add_argument("--port", type=int, default=int(os.environ.get("HOOKWAY_PORT", "8000")))
    api.add_argument("--verbose", action="store_true")
    api.set_defaults(func=cmd_api)
    worker = sub.add_parser("worker", help="only one queue's worker")
    worker.add_argument("--queue", choices=sorted(QUEUES), required=True)
    worker.add_argument("--wait-seconds", type=int, default=1)
    worker.add_argument(
        "--concurrency", type=int, help="batches at once (default: 1; deliveries: the stage's cap or 2)"
    )
    worker.add_argument("--no-slow-lane", action="store_true", help="deliveries: not the slow lane too")
    worker.set_defaults(func=cmd_worker)
    schedule = sub.add_parser("schedule", help="only the scheduled handlers (sweep, release step)")
    schedule.add_argument(
        "--every", type=float, default=None, help="seconds between runs (default: as deployed)"
    )
    schedule.set_defaults(func=cmd_schedule)
    deploy = sub.add_parser("deploy", help="create the resources in a running emulator")
    deploy.add_argument("--endpoint", required=True)
    deploy.set_defaults(func=cmd_deploy)
    openapi = sub.add_parser(
        "openapi", help="build chalicelib/api/openapi.json from chalicelib/api/openapi.yaml"
    )
    openapi.set_defaults(func=cmd_openapi)
    args = parser.parse_args(argv)
    from local import profiling
    from local.state import StateInUseError

    profiling.install(f"{args.verb}-{getattr(args, 'queue', '')}".rstrip("-"))

    try:
        args.func(args)
    except (DevError, StateInUseError) as exc:
        print(f"make dev: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()

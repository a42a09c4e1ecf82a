"""``hookway jobs show``, and following a background job for the verbs that start one (application
deletes, recoveries, replays): a progress bar on a terminal, a line per change when piped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookway_cli.context import Context
from hookway_cli.verbs import Arg, Verbs, arg

verbs = Verbs()
jobs = verbs.group("jobs", "background jobs (application deletes, recoveries, replays)")

ENDED = ("succeeded", "failed")


def wait_arg(help_text: str) -> Arg:
    """The ``--wait SECONDS`` flag of a verb that starts or shows a job."""
    return arg("--wait", type=float, default=0, metavar="SECONDS", help=help_text)


@jobs.command("show", "a job's state and progress", arg("job_id"), wait_arg("follow it until it ends"))
def show_job(ctx: Context) -> int:
    """One background job; ``--wait SECONDS`` follows it until it ends."""
    return job_result(ctx, ctx.client.get_job(ctx.args.job_id), "done")


class _Progress:
    """A rich progress bar on a terminal; a line per change when piped; nothing with ``--json``."""

    def __init__(self, ctx: Context, total: int | None, label: str = "delivering") -> None:
        self.ctx, self.total, self.last = ctx, total, -1
        self.bar: Any = None
        if ctx.out.rich:
            from rich.progress import Progress

            self.bar = Progress(console=ctx.out.console())
            self.task = self.bar.add_task(label, total=total)
            self.bar.start()

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=self.total)
        elif done != self.last and not self.ctx.out.as_json:
            self.ctx.out.note(f"{done}/{self.total if self.total is not None else '?'} done")
        self.last = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def job_text(job: Mapping[str, Any], what: str) -> str:
    """A job in one line: ``job_... recover running: 3/10 deliveries ... queued again``."""
    total = job.get("total")
    count = f"{job.get('done', 0)}/{total}" if total is not None else str(job.get("done", 0))
    text = f"{job.get('id')} {job.get('kind')} {job.get('state')}: {count} {what}"
    error = job.get("error")
    if isinstance(error, dict):
        text += f" ({error.get('code')}: {error.get('message')})"
    return text


def job_result(ctx: Context, job: dict[str, Any], what: str) -> int:
    """Show a started job; with ``--wait SECONDS`` follow it until it ends (progress on stderr). Exit
    status 1 if it failed, 0 otherwise (a job still running when the wait is over included)."""
    wait = float(ctx.opt("wait", 0) or 0)
    if wait > 0 and job.get("state") not in ENDED:
        job = follow_job(ctx, str(job["id"]), wait)
    ctx.out.result(job, text=job_text(job, what))
    return 1 if job.get("state") == "failed" else 0


def follow_job(ctx: Context, job_id: str, timeout: float) -> dict[str, Any]:
    """Poll a job until it ends (or time runs out), showing its progress."""
    deadline = ctx.now() + timeout
    progress: _Progress | None = None
    try:
        while True:
            job: dict[str, Any] = ctx.client.get_job(job_id)
            if progress is None:
                progress = _Progress(ctx, job.get("total"), "job")  # never an API string: rich renders markup
            progress.update(int(job.get("done") or 0), job.get("total"))
            if job.get("state") in ENDED or ctx.now() >= deadline:
                return job
            ctx.wait(0.5)
    finally:
        if progress is not None:
            progress.close()

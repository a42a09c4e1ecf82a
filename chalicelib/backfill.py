"""Subscription backfill: put endpoints written before subscription pages into their owner's pages.

The router finds an owner's endpoints through its subscription pages (``SUBS#{owner}`` / ``P#{n}``,
docs/fanout.md). An endpoint written by an earlier Hookway is in none (its item has no ``sub_page``); until
its owner is marked ``complete`` the router matches that owner from the full listing instead (slower, and
logged once per owner per container), so nothing is missed meanwhile. This job:

* pages through every owner (the operator's own endpoints, then each application, by the existing
  listings) and each owner's endpoints, ``page_size`` endpoints per step;
* joins each endpoint that has no page (``Store.join_subscription``: conditional writes, so it is safe
  beside live creates, saves and deletes, and a re-run joins nothing twice); an id already in one of the
  owner's pages (a crash between the join and its record, or an item rewritten by an older version
  during a deploy) only gets its page recorded;
* marks the owner ``complete`` when its last listing page is done (and moves its version, so routers
  reload its pages);
* keeps its position in a checkpoint item after every step: an interrupted run resumes where it stopped,
  and a finished one is a no-op (``again`` runs it over anyway).

``python -m chalicelib.backfill`` runs it with a stage's ``HOOKWAY_*`` environment (``infra/deploy.py``
runs it on every deploy, ``make dev`` when it restores saved state). ``--no-mark`` joins without marking
(the deploy's pass before the new code takes traffic, while the old code may still write endpoints).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.ports import BackfillStore

log = logging.getLogger("hookway.backfill")

CHECKPOINT = "subscriptions-backfill"
DONE = "done"
PAGE_SIZE = 500  # endpoints read per step
APPLICATIONS_PAGE = 100


@dataclass
class Totals:
    """What a run did."""

    steps: int = 0
    owners: int = 0
    read: int = 0
    joined: int = 0
    done: bool = False
    cursor: str | None = None
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        """For the command's JSON line."""
        return {
            "steps": self.steps,
            "owners": self.owners,
            "joined": self.joined,
            "done": self.done,
            "skipped": self.skipped,
        }


@dataclass
class _Position:
    apps: str | None = None  # the cursor of the applications page that holds the current owner
    index: int = -1  # the owner's place in that page; -1: the operator's own endpoints
    endpoints: str | None = None  # the owner's listing cursor
    joined: int = 0  # endpoints joined for the current owner so far

    def encode(self) -> str:
        return json.dumps({"a": self.apps, "i": self.index, "e": self.endpoints, "j": self.joined})

    @classmethod
    def decode(cls, text: str | None) -> _Position:
        if not text or text == DONE:
            return cls()
        doc = json.loads(text)
        return cls(doc.get("a"), int(doc.get("i", -1)), doc.get("e"), int(doc.get("j", 0)))


class Backfill:
    """The backfill over one store, in bounded steps (see the module's doc)."""

    def __init__(self, store: BackfillStore, *, mark: bool = True, page_size: int = PAGE_SIZE) -> None:
        self._store = store
        self._mark = mark
        self._page_size = page_size
        self.checkpoint = CHECKPOINT if mark else CHECKPOINT + ":join"

    def _owner(self, position: _Position) -> tuple[bool, str | None]:
        """The owner at ``position`` (moving to the next applications page when needed); False at the end."""
        while position.index >= 0:
            page = self._store.list_applications(limit=APPLICATIONS_PAGE, cursor=position.apps)
            if position.index < len(page.items):
                return True, page.items[position.index].id
            if page.cursor is None:
                return False, None
            position.apps, position.index = page.cursor, 0
        return True, None

    def step(self, cursor: str | None) -> tuple[Totals, str | None]:
        """One bounded step: at most ``page_size`` endpoints of one owner (and one applications page);
        returns what it did and the cursor of the next step (None: every owner is done)."""
        totals = Totals(steps=1)
        position = _Position.decode(cursor)
        more, owner = self._owner(position)
        if not more:
            return totals, None
        page = self._store.unjoined_endpoints(owner, limit=self._page_size, cursor=position.endpoints)
        totals.read = len(page.items)
        held = self._held(owner) if page.items else {}
        for endpoint_id in page.items:
            if self._store.join_subscription(endpoint_id, held.get(endpoint_id)):
                totals.joined += 1
        position.joined += totals.joined
        if page.cursor is not None:
            position.endpoints = page.cursor
            return totals, position.encode()
        totals.owners = 1
        if self._mark:
            _, _, complete = self._store.owner_state(owner)
            if position.joined or not complete:
                self._store.mark_subscriptions_complete(owner)
        if position.joined:
            log.info("owner backfilled", extra={"application_id": owner, "joined": position.joined})
        return totals, _Position(position.apps, position.index + 1).encode()

    def _held(self, owner: str | None) -> dict[str, int]:
        """Which page holds each id of the owner's pages (read only when a step found endpoints in none)."""
        _, pages, _ = self._store.owner_state(owner)
        return {i: n for n in range(pages) for i in self._store.subscription_page(owner, n)}

    def run(
        self,
        *,
        max_steps: int | None = None,
        again: bool = False,
        progress: Callable[[Totals], None] | None = None,
    ) -> Totals:
        """Steps from the checkpoint until every owner is done (or ``max_steps``), saving the position
        after each; a finished backfill is skipped unless ``again``."""
        saved = self._store.get_checkpoint(self.checkpoint)
        total = Totals()
        if saved == DONE and not again:
            total.done = total.skipped = True
            return total
        cursor = None if saved == DONE else saved
        while max_steps is None or total.steps < max_steps:
            done, cursor = self.step(cursor)
            total.steps += 1
            total.owners += done.owners
            total.read += done.read
            total.joined += done.joined
            self._store.put_checkpoint(self.checkpoint, cursor or DONE)
            if progress is not None and (cursor is None or total.steps % 100 == 0):
                progress(total)
            if cursor is None:
                total.done = True
                break
        total.cursor = cursor
        return total


def main(argv: list[str] | None = None) -> None:
    """``python -m chalicelib.backfill``: backfill a stage's table (its ``HOOKWAY_*`` environment)."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.backfill", description=__doc__.split("\n")[0])
    parser.add_argument("--no-mark", action="store_true", help="join only; mark no owner complete")
    parser.add_argument("--again", action="store_true", help="run even if a past run finished")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (resumable)")
    args = parser.parse_args(argv)
    from chalicelib.wiring import worker_root

    job = Backfill(worker_root().plain_store, mark=not args.no_mark)
    totals = job.run(
        max_steps=args.steps,
        again=args.again,
        progress=lambda t: print(json.dumps({"progress": t.as_dict()}), flush=True),
    )
    print(json.dumps(totals.as_dict()), flush=True)


if __name__ == "__main__":
    main()

"""Flow control of one endpoint's deliveries: the throttle's limits and the ordering choices.

``throttle_rate`` is at most ``MAX_THROTTLE_RATE`` attempts a second: the throttle takes one conditional
write on the endpoint's own bucket item per attempt, and DynamoDB allows an item 1,000 writes a second.
"""

from __future__ import annotations

from chalicelib.models import Ordering

MAX_THROTTLE_RATE = 1000
ORDERINGS: tuple[Ordering, ...] = ("none", "fifo")

"""Every AWS resource name Hookway uses, derived from the stage, so stages in one account share nothing.

Pure and cheap: ``app.py`` calls it at import (Chalice's queue decorators need names when it loads the app
for ``chalice deploy --stage S``, with that stage's environment in place), and ``infra`` builds the
stack, the Chalice configuration and the IAM policies from the same names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

APP_NAME = "hookway"
_STAGE = re.compile(r"[a-z][a-z0-9]{0,15}")
# Chalice's function keys (``lambda_functions`` in .chalice/config.json); the API's is api_handler.
FUNCTIONS = ("api_handler", "route_ingest", "deliver", "deliver_slow", "dead_letters", "sweep")


def check_stage(stage: str) -> str:
    """The stage name, or ValueError: lowercase letters and digits, at most 16, so every name fits."""
    if not _STAGE.fullmatch(stage):
        raise ValueError(
            f"a stage is 1 to 16 lowercase letters and digits, starting with a letter: {stage!r}"
        )
    return stage


@dataclass(frozen=True)
class Names:
    """The names of one stage's resources."""

    stage: str

    @property
    def prefix(self) -> str:
        """What every name of this stage starts with."""
        return f"{APP_NAME}-{self.stage}"

    @property
    def ingest_queue(self) -> str:
        """The queue the API puts accepted webhooks on; the router consumes it."""
        return f"{self.prefix}-ingest"

    @property
    def ingest_dlq(self) -> str:
        """Where ingest messages go after 5 failed receives."""
        return f"{self.prefix}-ingest-dlq"

    @property
    def deliveries_queue(self) -> str:
        """The queue of delivery tasks; the sender consumes it."""
        return f"{self.prefix}-deliveries"

    @property
    def slow_deliveries_queue(self) -> str:
        """The slow lane: delivery tasks of failing or slow endpoints, consumed with its own concurrency cap."""
        return f"{self.prefix}-deliveries-slow"

    @property
    def deliveries_dlq(self) -> str:
        """Where delivery tasks go after 5 failed receives; the dead-letter handler consumes it."""
        return f"{self.prefix}-deliveries-dlq"

    @property
    def table(self) -> str:
        """The state table."""
        return f"{self.prefix}-state"

    @property
    def infra_stack(self) -> str:
        """The standalone infrastructure stack (queues, table, bucket, logs, alarms, dashboard)."""
        return f"{self.prefix}-infra"

    @property
    def admin_key_parameter(self) -> str:
        """The SSM SecureString holding the admin API key."""
        return f"/{APP_NAME}/{self.stage}/admin-key"

    @property
    def parameter_path(self) -> str:
        """Every SSM parameter of this stage lives under this path (client certificates included)."""
        return f"/{APP_NAME}/{self.stage}/"

    @property
    def secret_prefix(self) -> str:
        """Secrets Manager names of this stage start with this."""
        return f"{APP_NAME}/{self.stage}/"

    @property
    def dashboard(self) -> str:
        """The CloudWatch dashboard."""
        return self.prefix

    def function(self, key: str) -> str:
        """The Lambda function name Chalice gives a handler (the API's is the bare prefix)."""
        return self.prefix if key == "api_handler" else f"{self.prefix}-{key}"

    def log_group(self, key: str) -> str:
        """The function's log group (created by the infrastructure stack, with its retention)."""
        return f"/aws/lambda/{self.function(key)}"


def names(stage: str) -> Names:
    """The names of a stage's resources (ValueError for an unusable stage name)."""
    return Names(check_stage(stage))

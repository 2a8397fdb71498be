"""The experiment feature's errors (apart from the service, so grants can raise them too)."""

from __future__ import annotations

import uuid

from expsvc.errors import Conflict, NotFound


class ExperimentNotFound(NotFound):
    slug, title = "experiment-not-found", "Experiment not found"

    def __init__(self, experiment_id: uuid.UUID) -> None:
        super().__init__(f"experiment {experiment_id} does not exist", experiment_id=experiment_id)


class ExperimentNotDeletable(Conflict):
    slug, title = "experiment-not-deletable", "Experiment cannot be deleted"


class ExperimentHasRunningRuns(Conflict):
    slug, title = "experiment-has-running-runs", "Experiment has running runs"

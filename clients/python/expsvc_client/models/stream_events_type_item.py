from enum import StrEnum


class StreamEventsTypeItem(StrEnum):
    CAPTURE_ARCHIVED = "capture.archived"
    CAPTURE_CREATED = "capture.created"
    CAPTURE_FAILED = "capture.failed"
    CAPTURE_STARTED = "capture.started"
    CAPTURE_STOPPED = "capture.stopped"
    CAPTURE_UPDATED = "capture.updated"
    EXPERIMENT_ARCHIVED = "experiment.archived"
    EXPERIMENT_CREATED = "experiment.created"
    EXPERIMENT_DELETED = "experiment.deleted"
    EXPERIMENT_FAILED = "experiment.failed"
    EXPERIMENT_FINISHED = "experiment.finished"
    EXPERIMENT_STARTED = "experiment.started"
    EXPERIMENT_UPDATED = "experiment.updated"
    RUN_ARCHIVED = "run.archived"
    RUN_ARTIFACT_LINKED = "run.artifact_linked"
    RUN_ARTIFACT_UPDATED = "run.artifact_updated"
    RUN_CREATED = "run.created"
    RUN_FAILED = "run.failed"
    RUN_FINISHED = "run.finished"
    RUN_STARTED = "run.started"
    RUN_UPDATED = "run.updated"

    def __str__(self) -> str:
        return str(self.value)

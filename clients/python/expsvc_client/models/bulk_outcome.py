from enum import StrEnum


class BulkOutcome(StrEnum):
    EXPERIMENT_CLOSED = "experiment_closed"
    INVALID_TRANSITION = "invalid_transition"
    LIMIT_EXCEEDED = "limit_exceeded"
    NOT_FOUND = "not_found"
    OK = "ok"
    PRECONDITION_FAILED = "precondition_failed"
    UNCHANGED = "unchanged"

    def __str__(self) -> str:
        return str(self.value)

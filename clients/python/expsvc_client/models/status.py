from enum import StrEnum


class Status(StrEnum):
    ARCHIVED = "archived"
    DRAFT = "draft"
    FAILED = "failed"
    FINISHED = "finished"
    RUNNING = "running"

    def __str__(self) -> str:
        return str(self.value)

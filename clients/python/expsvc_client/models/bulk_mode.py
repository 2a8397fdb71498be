from enum import StrEnum


class BulkMode(StrEnum):
    ATOMIC = "atomic"
    PARTIAL = "partial"

    def __str__(self) -> str:
        return str(self.value)

from enum import StrEnum


class TotalMode(StrEnum):
    ESTIMATE = "estimate"
    EXACT = "exact"

    def __str__(self) -> str:
        return str(self.value)

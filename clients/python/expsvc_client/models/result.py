from enum import StrEnum


class Result(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    ORPHANED = "orphaned"
    REJECTED = "rejected"

    def __str__(self) -> str:
        return str(self.value)

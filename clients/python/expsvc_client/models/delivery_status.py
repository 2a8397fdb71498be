from enum import StrEnum


class DeliveryStatus(StrEnum):
    ABANDONED = "abandoned"
    DELIVERING = "delivering"
    FAILED = "failed"
    PENDING = "pending"
    SUCCEEDED = "succeeded"

    def __str__(self) -> str:
        return str(self.value)

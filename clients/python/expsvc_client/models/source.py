from enum import StrEnum


class Source(StrEnum):
    INTEGRATION = "integration"
    SYSTEM = "system"
    USER = "user"
    WORKER = "worker"

    def __str__(self) -> str:
        return str(self.value)

from enum import StrEnum


class IngestCheck(StrEnum):
    DISABLED = "disabled"
    ERROR = "error"
    OK = "ok"

    def __str__(self) -> str:
        return str(self.value)

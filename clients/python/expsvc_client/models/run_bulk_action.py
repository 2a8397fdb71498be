from enum import StrEnum


class RunBulkAction(StrEnum):
    ARCHIVE = "archive"
    FAIL = "fail"
    FINISH = "finish"
    START = "start"

    def __str__(self) -> str:
        return str(self.value)

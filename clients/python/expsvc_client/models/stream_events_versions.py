from enum import StrEnum


class StreamEventsVersions(StrEnum):
    ALL = "all"
    NEWEST = "newest"
    OLDEST = "oldest"

    def __str__(self) -> str:
        return str(self.value)

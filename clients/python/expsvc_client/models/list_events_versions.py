from enum import StrEnum


class ListEventsVersions(StrEnum):
    ALL = "all"
    NEWEST = "newest"
    OLDEST = "oldest"

    def __str__(self) -> str:
        return str(self.value)

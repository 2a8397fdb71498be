from enum import StrEnum


class EntityKind(StrEnum):
    CAPTURE = "capture"
    EXPERIMENT = "experiment"
    RUN = "run"

    def __str__(self) -> str:
        return str(self.value)

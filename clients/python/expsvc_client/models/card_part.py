from enum import StrEnum


class CardPart(StrEnum):
    ARTIFACTS = "artifacts"
    CAPTURES = "captures"
    METRICS = "metrics"
    SENSORS = "sensors"

    def __str__(self) -> str:
        return str(self.value)

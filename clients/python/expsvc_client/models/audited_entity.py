from enum import StrEnum


class AuditedEntity(StrEnum):
    API_TOKEN = "api_token"
    CAPTURE = "capture"
    EXPERIMENT = "experiment"
    RUN = "run"
    WEBHOOK = "webhook"

    def __str__(self) -> str:
        return str(self.value)

from enum import StrEnum


class ReceiveArtifactEventsBodyEventsItemType(StrEnum):
    ARTIFACT_LINKED = "artifact.linked"
    ARTIFACT_STATUS_CHANGED = "artifact.status_changed"
    MODEL_APPROVED = "model.approved"

    def __str__(self) -> str:
        return str(self.value)

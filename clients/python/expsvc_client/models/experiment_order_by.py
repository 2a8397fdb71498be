from enum import StrEnum


class ExperimentOrderBy(StrEnum):
    CREATED_AT = "created_at"
    FINISHED_AT = "finished_at"
    NAME = "name"
    STARTED_AT = "started_at"

    def __str__(self) -> str:
        return str(self.value)

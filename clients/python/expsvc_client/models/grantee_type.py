from enum import StrEnum


class GranteeType(StrEnum):
    GROUPS = "groups"
    PRINCIPALS = "principals"

    def __str__(self) -> str:
        return str(self.value)

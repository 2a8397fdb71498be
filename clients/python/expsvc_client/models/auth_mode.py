from enum import StrEnum


class AuthMode(StrEnum):
    HEADER = "header"
    JWT = "jwt"
    NONE = "none"

    def __str__(self) -> str:
        return str(self.value)

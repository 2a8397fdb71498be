from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from expsvc.auth.access import Role

# A principal id or group name as grants name them (the identity's own charset).
GranteeName = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s/]+$")]


class GranteeType(StrEnum):
    principals = "principals"
    groups = "groups"

    @property
    def prefix(self) -> str:
        return "principal" if self is GranteeType.principals else "group"


class GrantWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class GrantRead(BaseModel):
    principal: str | None = Field(None, description="Set when the grant is to a principal.")
    group: str | None = Field(None, description="Set when the grant is to a group.")
    role: Role
    granted_by: str
    granted_at: datetime


class GrantList(BaseModel):
    items: list[GrantRead]

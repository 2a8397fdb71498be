"""``GET /{entity}/{id}/history``, registered on each entity's router by one factory.

No ``from __future__ import annotations``: FastAPI must see the generated endpoint's types.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, cast

from fastapi import APIRouter, Path, Query

from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, ProblemError, ValidationFailed, problem_responses
from expsvc.history.schemas import StatusHistoryPage
from expsvc.history.service import StatusHistoryService
from expsvc.lifecycle import EntityKind
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.repository import EntityRepository
from expsvc.routing import DbSession
from expsvc.schemas import PageToken


def add_history_route(
    router: APIRouter,
    kind: EntityKind,
    repository: type[EntityRepository],
    not_found: type[ProblemError],
) -> None:
    path_name = f"{kind.value}_id"
    EntityId = Annotated[uuid.UUID, Path(alias=path_name)]

    async def endpoint(
        entity_id: EntityId,
        context: CurrentContext,
        session: DbSession,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        page_token: Annotated[PageToken | None, Query()] = None,
    ) -> StatusHistoryPage:
        # 404 alike for missing and for what the caller may not read.
        if await repository(session).get_readable(entity_id, context.principal) is None:
            raise cast(Callable[[uuid.UUID], ProblemError], not_found)(entity_id)
        return await StatusHistoryService(session).page(kind, entity_id, page_size, page_token)

    router.add_api_route(
        f"/{{{path_name}}}/history",
        endpoint,
        methods=["GET"],
        response_model=StatusHistoryPage,
        operation_id=f"get_{kind.value}_history",
        summary=f"Status history of {kind.article} {kind.value}, newest first",
        responses=problem_responses(BadRequest, ValidationFailed, not_found),
    )

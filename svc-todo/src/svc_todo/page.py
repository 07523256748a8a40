"""The server-rendered page and the HTMX fragments it swaps in; the same service as the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import File, ServerSentEvent, ServerSentEventMessage, Template
from litestar.status_codes import HTTP_400_BAD_REQUEST

from shared_contracts.todos import TEXT_MAX_CHARACTERS, TodoTextError
from svc_todo.image import FETCHING, HourlyImage, placeholder_svg
from svc_todo.listing import DEFAULT_LIMIT, BadCursor, Position
from svc_todo.live import LiveUpdates
from svc_todo.rejections import Rejected, record
from svc_todo.service import TodoNotFound, TodoService

WARN_BELOW_CHARACTERS_LEFT = 20  # the counter warns from 121 characters of 140 on

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


async def _first_page(todos: TodoService) -> dict[str, Any]:
    """The list as a page first shows it: the newest todos, and a "load more" while more remain."""
    page = await todos.page(DEFAULT_LIMIT)
    return {"todos": page.todos, "next_cursor": page.next and page.next.cursor()}


class PageController(Controller):
    include_in_schema = False

    @get("/")
    async def index(
        self, todos: NamedDependency[TodoService], image: NamedDependency[HourlyImage]
    ) -> Template:
        context = {
            **await _first_page(todos),
            "limit": TEXT_MAX_CHARACTERS,
            "warn_below": WARN_BELOW_CHARACTERS_LEFT,
            **_image_context(image),
        }
        return Template("index.html", context=context)

    @get("/fragments/image")
    async def image_fragment(self, image: NamedDependency[HourlyImage]) -> Template:
        """Polled by the page while there is no image yet; each poll may start a retry."""
        return Template("image.html", context=_image_context(image))

    @get("/fragments/todos")
    async def todo_list(self, todos: NamedDependency[TodoService]) -> Template:
        return Template("todo_list.html", context=await _first_page(todos))

    @get("/fragments/todos/more")
    async def more_todos(
        self, cursor: FromQuery[str], todos: NamedDependency[TodoService]
    ) -> Template:
        """The next page's items, swapped in place of the "load more" button that asked."""
        try:
            after = Position.from_cursor(cursor)
        except BadCursor as exc:
            raise ValidationException(detail=str(exc)) from exc
        page = await todos.page(DEFAULT_LIMIT, after)
        return Template(
            "todo_more.html",
            context={"todos": page.todos, "next_cursor": page.next and page.next.cursor()},
        )

    @post("/fragments/todos", status_code=200)
    async def create(
        self, data: Form, todos: NamedDependency[TodoService]
    ) -> Template | Response[str]:
        try:
            await todos.create(data.get("text"), via="page")
        except TodoTextError as exc:
            rejection = Rejected.from_text_error(exc)
            record(rejection, "/fragments/todos")
            return Response(
                rejection.detail,
                status_code=HTTP_400_BAD_REQUEST,  # as the API answers; the page shows it inline
                headers={"HX-Retarget": "#form-error", "HX-Reswap": "innerHTML"},
                media_type="text/plain",
            )
        return Template("todo_list.html", context=await _first_page(todos))

    @put("/fragments/todos/{todo_id:uuid}/done")
    async def set_done(
        self, todo_id: FromPath[UUID], data: Form, todos: NamedDependency[TodoService]
    ) -> Template:
        try:
            todo = await todos.update(todo_id, done=data.get("done") == "true")
        except TodoNotFound as exc:
            raise NotFoundException(f"no todo {todo_id}") from exc
        return Template("todo_item.html", context={"todo": todo})

    @delete("/fragments/todos/{todo_id:uuid}", status_code=200)
    async def remove(self, todo_id: FromPath[UUID], todos: NamedDependency[TodoService]) -> str:
        with suppress(TodoNotFound):  # already gone: what the page asked for is true
            await todos.delete(todo_id)
        return ""

    @get("/events")
    async def events(self, live: NamedDependency[LiveUpdates]) -> ServerSentEvent:
        """Tells open pages that todos changed; they re-fetch the list fragment."""
        event_types = await live.listen()  # before the answer starts: no change slips past

        async def changes() -> AsyncIterator[ServerSentEventMessage]:
            async for event_type in event_types:
                yield ServerSentEventMessage(event="todos", data=event_type)

        return ServerSentEvent(changes())

    @get("/image")
    async def image(self, image: NamedDependency[HourlyImage]) -> Any:
        image.refresh_in_background()
        status = image.status()
        if status is not None:
            return Response(
                placeholder_svg(status),
                media_type="image/svg+xml",
                headers={"Cache-Control": "no-store"},
            )
        return File(
            image.path,
            content_disposition_type="inline",
            media_type=image.content_type(),
            headers={"Cache-Control": "public, max-age=60"},
        )


def _image_context(image: HourlyImage) -> dict[str, Any]:
    image.refresh_in_background()
    status = image.status()
    return {
        "image_status": status,
        "image_version": None if status else image.version(),
        # Poll quickly while the first fetch runs, then at the pace of the retries.
        "image_poll_seconds": 1 if status == FETCHING else 10,
    }

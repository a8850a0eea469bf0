"""REST responses: JSON via orjson; every error body is ``{"code": ..., "message": ...}``.

tidings' routes answer their own errors (:class:`TidingsRoute`), so the contract's status
codes hold in any app that includes them, whatever exception handlers that app installs.
:func:`install_error_handlers` gives a whole app (the standalone service) the same shape for
errors outside those routes: unknown paths, wrong methods.
"""

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from foundation.errors import StoreError, TicketStoreUnavailable

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    429: "too_many_requests",
}


class JsonResponse(Response):
    """A JSON response encoded with orjson (datetimes as ISO 8601)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """An error answer: HTTP ``status`` with a stable ``code`` (and extra ``headers``)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JsonResponse:
    """The JSON body of every error."""
    return JsonResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _store_unavailable(error: StoreError) -> JsonResponse:
    """503 naming what failed: the ticket store (Redis) has a code of its own, so that an
    outage of Redis is never reported as one of the store."""
    if isinstance(error, TicketStoreUnavailable):
        log.warning("ticket store (redis) error while answering a request: %s", error)
        return error_response(
            503, "ticket_store_unavailable", "the ticket store (Redis) is not answering; retry"
        )
    log.warning("store error while answering a request: %s", type(error).__name__)
    return error_response(503, "store_unavailable", "the store is not answering; retry")


class TidingsRoute(APIRoute):
    """A route that answers tidings' errors itself, in the contract's shape.

    ``ApiError`` becomes its status and code, a malformed request 400 ``invalid_request``, a
    ``StoreError`` 503 ``store_unavailable`` (``ticket_store_unavailable`` when it is Redis,
    which keeps the tickets): also inside a host app whose exception handlers
    know nothing of them.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answering(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as error:
                return error_response(error.status, error.code, error.message, error.headers)
            except RequestValidationError:
                return error_response(400, "invalid_request", "the request is malformed")
            except StoreError as error:
                return _store_unavailable(error)

        return answering


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the app can answer follow the ``{code, message}`` shape."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JsonResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JsonResponse:
        code = _STATUS_CODES.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, _error: RequestValidationError) -> JsonResponse:
        return error_response(400, "invalid_request", "the request is malformed")

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, error: StoreError) -> JsonResponse:
        return _store_unavailable(error)

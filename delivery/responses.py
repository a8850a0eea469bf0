"""REST responses: JSON via orjson; every error body is ``{"code": ..., "message": ...}``."""

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
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
    """An error answer: HTTP ``status`` with a stable ``code``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JsonResponse:
    """The JSON body of every error."""
    return JsonResponse({"code": code, "message": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the app can answer follow the ``{code, message}`` shape."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JsonResponse:
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JsonResponse:
        code = _STATUS_CODES.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, _error: RequestValidationError) -> JsonResponse:
        return error_response(400, "invalid_request", "the request is malformed")

    # Starlette picks the handler of the most derived class: this one before StoreError's.
    @app.exception_handler(TicketStoreUnavailable)
    async def ticket_store_error(_request: Request, error: TicketStoreUnavailable) -> JsonResponse:
        log.warning("ticket store (redis) error while answering a request: %s", error)
        return error_response(
            503, "ticket_store_unavailable", "the ticket store (Redis) is not answering; retry"
        )

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, error: StoreError) -> JsonResponse:
        log.warning("store error while answering a request: %s", type(error).__name__)
        return error_response(503, "store_unavailable", "the store is not answering; retry")

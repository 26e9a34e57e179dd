"""RFC 9457 problem details: one exception type for the API's own errors and one mapper from
everything else (validation, routing, domain errors from the engine) to typed problem bodies.

Every error body has ``type``, ``title``, ``status``, ``detail`` and a stable ``code`` a client can
branch on; validation errors also list ``errors: [{field, message}]``. A detail never carries a
secret: messages are built from field names and ids, never from credential values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

PROBLEM_BASE = "https://byokvault.dev/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("byokvault.api")

# code -> (status, title). One place lists every code a client may see.
CODES: dict[str, tuple[int, str]] = {
    "validation_error": (400, "The request is not valid"),
    "unauthorized": (401, "Missing or unknown API token"),
    "forbidden": (403, "This token may not do that"),
    "not_found": (404, "No such resource"),
    "method_not_allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflicts with the current state"),
    "idempotency_conflict": (409, "Idempotency key reused with a different request"),
    "payload_too_large": (413, "Request body too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "no_candidate": (422, "No model satisfies the request"),
    "unpriced_model": (422, "The model has no price for what the call uses"),
    "unknown_model": (422, "No such model in the catalog"),
    "quote_expired": (409, "The quote has expired"),
    "quote_not_found": (404, "No such quote"),
    "byok_invalid": (422, "The tenant's own provider key is missing or was rejected"),
    "no_credential": (422, "No credential can serve this provider"),
    "policy_denied": (403, "The tenant's policy forbids this call"),
    "rate_limited": (429, "Too many requests"),
    "provider_error": (502, "The provider failed"),
    "provider_timeout": (504, "The provider did not answer in time"),
    "unavailable": (503, "A required component is not available"),
    "internal_error": (500, "Internal error"),
}


class ApiProblem(Exception):
    """An error the API reports deliberately, with a typed code."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        default_status, self.title = CODES[code]
        self.code = code
        self.status = status or default_status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def invalid(field: str, message: str) -> ApiProblem:
    """A 400 naming the offending field."""
    return ApiProblem(
        "validation_error", f"{field}: {message}", errors=[{"field": field, "message": message}]
    )


def problem_response(problem: ApiProblem, path: str | None = None) -> Response[Any]:
    return Response(
        problem.body(path),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=problem.headers,
    )


# Engine exceptions mapped to codes, registered by the modules that wire each engine piece in
# (``register_domain_error``), so this module needs no import of the engine.
_DOMAIN: dict[type[BaseException], Callable[[BaseException], ApiProblem]] = {}


def register_domain_error(
    exc_type: type[BaseException], to_problem: Callable[[BaseException], ApiProblem]
) -> None:
    _DOMAIN[exc_type] = to_problem


def _from_validation(exc: ValidationException) -> ApiProblem:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            source = getattr(item.get("source"), "value", item.get("source"))
            key = str(item.get("key") or source or "body")
            errors.append({"field": key, "message": str(item.get("message", "invalid"))})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
    return ApiProblem("validation_error", detail, errors=errors or None)


_STATUS_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def to_problem(exc: BaseException) -> ApiProblem:
    """Any exception as a problem; unknown ones are a 500 whose detail reveals nothing."""
    if isinstance(exc, ApiProblem):
        return exc
    for exc_type in type(exc).__mro__:
        if exc_type in _DOMAIN:
            return _DOMAIN[exc_type](exc)
    if isinstance(exc, ValidationException):
        return _from_validation(exc)
    if isinstance(exc, NotFoundException):
        return ApiProblem("not_found", str(exc.detail))
    if isinstance(exc, HTTPException):
        code = _STATUS_CODES.get(exc.status_code)
        if code is None:
            code = "validation_error" if exc.status_code < 500 else "internal_error"
        return ApiProblem(code, str(exc.detail), status=exc.status_code)
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return ApiProblem("internal_error", "an internal error occurred; it has been logged")


# Paths the official SDKs call: their error parsers read an ``error`` member, so problems there
# carry one too ({message, type, code}: OpenAI's shape, which Anthropic's SDK also reads).
SDK_PATHS = ("/v1/chat/completions", "/v1/embeddings", "/v1/responses", "/v1/messages")


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    problem = to_problem(exc)
    if request.url.path in SDK_PATHS:
        problem.extra.setdefault(
            "error", {"message": problem.detail, "type": problem.code, "code": problem.code}
        )
    return problem_response(problem, request.url.path)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    Exception: handle_exception,
    HTTP_500_INTERNAL_SERVER_ERROR: handle_exception,
}

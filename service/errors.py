"""JSON errors: every 4xx/5xx from the API is ``{"error": {"code": ..., "message": ...}}``.

A database that cannot be reached (or is busy beyond its lock timeout: SQLAlchemy's ``OperationalError``, a pool
timeout) is a ``503 unavailable`` with ``Retry-After``, not a 500: the client should retry, nothing is wrong with
its request. Every 503 carries ``Retry-After``."""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5  # what a 503 tells the client to wait


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    response = jsonify(body)
    response.status_code = status
    if status == 503:
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_S))
    return response


def validation_message(exc: ValidationError) -> tuple[str, list[dict]]:
    details = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in err.get("loc", ())) or "body"
        details.append({"field": field, "message": err.get("msg", "invalid")})
    first = details[0] if details else {"field": "body", "message": "invalid"}
    return f"{first['field']}: {first['message']}", details


def validate(model: type[BaseModel], data: Any, where: str = "") -> Any:
    """Validate decoded JSON ``data`` against ``model``; a 400 ``ApiError`` that names the offending field otherwise
    (``unknown_field`` for a field the model does not know, ``invalid_request`` for the rest). ``where`` prefixes
    field names (``comments.3.``)."""
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", f"{where.rstrip('.') or 'body'}: expected a JSON object",
                       field=where.rstrip(".") or "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        unknown = [e for e in exc.errors(include_url=False, include_input=False) if e.get("type") == "extra_forbidden"]
        if unknown:
            field = where + ".".join(str(p) for p in unknown[0]["loc"])
            raise ApiError(400, "unknown_field", f"{field}: unknown field (see the API documentation)",
                           field=field) from None
        message, details = validation_message(exc)
        for d in details:
            d["field"] = where + d["field"]
        raise ApiError(400, "invalid_request", where + message, field=details[0]["field"] if details else "body",
                       details=details) from None


def parse_json(raw: bytes, model: type[BaseModel] | None = None) -> Any:
    """The one JSON body parser: decode ``raw`` (an ``invalid_json`` 400 if it does not parse) and, given a pydantic
    ``model``, validate it (see ``validate``). Signed endpoints pass the raw bytes they verified."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "body: not valid JSON", field="body") from None
    return data if model is None else validate(model, data)


def wants_html() -> bool:
    """Dashboard pages get HTML error pages; everything else gets JSON."""
    path = request.path
    return not (path.startswith("/api/") or path.startswith("/v1alpha1/") or path.startswith("/webhooks/")
                or path.startswith("/integrations/") or path in ("/healthz", "/readyz"))


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        message, details = validation_message(exc)
        return error_response(400, "invalid_request", message, details=details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if wants_html() and exc.code not in (413,):
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception):
        log.warning("database unavailable on %s %s: %s", request.method, request.path, str(exc).splitlines()[0][:300])
        return error_response(503, "unavailable", "The database is unavailable right now; retry later.")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Internal error; it has been logged.")

"""JSON errors: every 4xx/5xx from the API is ``{"error": {"code": ..., "message": ...}}``."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def validation_message(exc: ValidationError) -> tuple[str, list[dict]]:
    details = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in err.get("loc", ())) or "body"
        details.append({"field": field, "message": err.get("msg", "invalid")})
    first = details[0] if details else {"field": "body", "message": "invalid"}
    return f"{first['field']}: {first['message']}", details


def parse_json_body(raw: bytes, model):
    """Validate a raw JSON body (signed endpoints read the raw bytes first) into a pydantic ``model``; any problem
    is a 400 ``ApiError`` naming the field."""
    import json

    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "body: not valid JSON (or nested too deeply)") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_request", "body: expected a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        message, details = validation_message(exc)
        raise ApiError(400, "invalid_request", message, details=details) from None


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

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Internal error; it has been logged.")

"""Perspective-compatible API: ``POST /v1alpha1/comments:analyze`` and ``POST /v1alpha1/comments:suggestscore``
with ``?key=API_KEY``, following Perspective's public request and response format, so a site switches by changing
one base URL. Errors are Google-style ``{"error": {"code", "message", "status"}}``. See docs/integrations.md."""
from __future__ import annotations

import re
import time
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import HTTPException

from core.decisions import decide_scored
from core.ingest import CommentIn, check_text, store
from core.keys import site_for_key
from core.storage.models import ScoreLabel, Site
from service.context import db_session, vigie
from service.errors import ApiError, parse_json
from service.integrations import sync

bp = Blueprint("perspective", __name__)

# Perspective attribute -> Vigie label. The _EXPERIMENTAL names answer with the same model.
ATTRIBUTES = {"TOXICITY": "toxicity", "SEVERE_TOXICITY": "severe_toxicity", "IDENTITY_ATTACK": "identity_attack",
              "INSULT": "insult", "PROFANITY": "obscene", "THREAT": "threat"}
ATTRIBUTES.update({f"{name}_EXPERIMENTAL": label for name, label in list(ATTRIBUTES.items())})
# Perspective attributes Vigie has no model for: refused the way Perspective refuses an unsupported language.
OTHER_PERSPECTIVE_ATTRIBUTES = {"SEXUALLY_EXPLICIT", "FLIRTATION", "ATTACK_ON_AUTHOR", "ATTACK_ON_COMMENTER",
                                "INCOHERENT", "INFLAMMATORY", "LIKELY_TO_REJECT", "OBSCENE", "SPAM", "UNSUBSTANTIAL"}
MAX_TEXT_BYTES = 20 * 1024  # Perspective refuses comments over 20 KB
MAX_SPANS = 100
GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "INVALID_ARGUMENT",
                 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                 503: "UNAVAILABLE"}
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


class PerspectiveError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def google_error(code: int, message: str):
    return jsonify({"error": {"code": code, "message": message, "status": GOOGLE_STATUS.get(code, "UNKNOWN")}}), code


# ------------------------------------------------------------------------------------------------- schemas
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextEntry(_Strict):
    text: str | None = None
    type: str | None = Field(None, pattern=r"^(PLAIN_TEXT|TEXT_TYPE_UNSPECIFIED)$")


class Context(_Strict):
    entries: list[TextEntry] = Field(default_factory=list, max_length=20)


class AttributeParameters(_Strict):
    scoreType: str | None = Field(None, pattern=r"^(PROBABILITY|SCORE_TYPE_UNSPECIFIED)$")
    scoreThreshold: float | None = Field(None, ge=0, le=1)


class AnalyzeRequest(_Strict):
    comment: TextEntry
    context: Context | None = None
    requestedAttributes: dict[str, AttributeParameters | None]
    spanAnnotations: bool = False
    languages: list[str] | None = Field(None, max_length=10)
    doNotStore: bool = False
    clientToken: str | None = Field(None, max_length=200)
    sessionId: str | None = Field(None, max_length=200)
    communityId: str | None = Field(None, max_length=200)


class Score(_Strict):
    value: float = Field(ge=0, le=1)
    type: str | None = None


class SpanScore(_Strict):
    begin: int | None = None
    end: int | None = None
    score: Score


class AttributeScores(_Strict):
    summaryScore: Score | None = None
    spanScores: list[SpanScore] | None = None


class SuggestRequest(_Strict):
    comment: TextEntry
    context: Context | None = None
    attributeScores: dict[str, AttributeScores]
    languages: list[str] | None = Field(None, max_length=10)
    communityId: str | None = Field(None, max_length=200)
    clientToken: str | None = Field(None, max_length=200)
    sessionId: str | None = Field(None, max_length=200)


# ------------------------------------------------------------------------------------------------- helpers
def _site() -> Site:
    key = request.args.get("key") or request.headers.get("X-Goog-Api-Key")
    if not key:
        raise PerspectiveError(403, "The request is missing a valid API key.")
    site = site_for_key(db_session(), key)
    if site is None:
        raise PerspectiveError(400, "API key not valid. Please pass a valid API key.")
    return site


def _parse(schema: type[BaseModel]) -> Any:
    """The body through the one JSON parser (service.errors.parse_json), its errors in Perspective's words."""
    try:
        return parse_json(request.get_data(cache=False), schema)
    except ApiError as exc:
        field = exc.extra.get("field", "body")
        if exc.code == "invalid_json":
            raise PerspectiveError(400, "Invalid JSON payload received.") from None
        if exc.code == "unknown_field":
            raise PerspectiveError(400, f'Invalid JSON payload received. Unknown name "{field}": '
                                        "Cannot find field.") from None
        details = exc.extra.get("details")
        if not details:  # not a JSON object
            raise PerspectiveError(400, "Invalid JSON payload received. Expected an object.") from None
        raise PerspectiveError(400, f"Invalid value at '{field}': {details[0]['message']}") from None


def _text(entry: TextEntry) -> str:
    text = entry.text or ""
    if not text.strip():
        raise PerspectiveError(400, "Comment must be non-empty.")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise PerspectiveError(400, "Comment text too long.")
    if check_text(text) is not None:
        raise PerspectiveError(400, "Comment text contains invalid characters (NUL or unpaired surrogates).")
    return text


def _languages(requested: list[str] | None, attributes: list[str]) -> tuple[list[str], bool]:
    """(languages, detected). Vigie does not detect languages: without ``languages`` the request is taken as
    the first configured language (French by default)."""
    supported = [x.strip().lower() for x in vigie().settings.perspective_languages.split(",") if x.strip()]
    if not requested:
        return supported[:1] or ["fr"], True
    langs = [x.strip()[:35] for x in requested]
    unsupported = [x for x in langs if x.lower().split("-")[0] not in supported]
    if unsupported:
        raise PerspectiveError(400, f"Attribute {attributes[0] if attributes else 'TOXICITY'} does not support "
                                    f"request languages: {', '.join(unsupported)}")
    return langs, False


def _check_attributes(names: list[str], languages: list[str]) -> None:
    if not names:
        raise PerspectiveError(400, "Requested attributes must be non-empty.")
    for name in names:
        if name in ATTRIBUTES:
            continue
        if name.upper() in OTHER_PERSPECTIVE_ATTRIBUTES:
            raise PerspectiveError(400, f"Attribute {name} does not support request languages: "
                                        f"{', '.join(languages)}")
        raise PerspectiveError(400, f"Unknown requested attribute: {name[:100]}")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character offsets of the text's sentences (at most MAX_SPANS; the last one runs to the end)."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if text[start:match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    if len(spans) > MAX_SPANS:
        spans = spans[:MAX_SPANS - 1] + [(spans[MAX_SPANS - 1][0], len(text))]
    return spans or [(0, len(text))]


def _score_value(value: float) -> dict[str, Any]:
    return {"value": round(float(value), 6), "type": "PROBABILITY"}


# ------------------------------------------------------------------------------------------------- routes
@bp.post("/v1alpha1/comments:analyze")
def analyze():
    site = _site()
    req = _parse(AnalyzeRequest)
    text = _text(req.comment)
    names = list(req.requestedAttributes)
    languages, detected = _languages(req.languages, names)
    _check_attributes(names, languages)
    spans = sentence_spans(text) if req.spanAnnotations else [(0, len(text))]
    texts = [text] + ([text[a:b] for a, b in spans] if req.spanAnnotations and len(spans) > 1 else [])
    settings = vigie().settings
    started = time.perf_counter()
    try:
        result = sync.score(vigie().redis, texts, settings.sync_timeout_ms)
    except sync.SyncUnavailable as exc:
        raise PerspectiveError(503, f"The service is currently unavailable: {exc}.") from None
    latency_ms = (time.perf_counter() - started) * 1000
    summary = result.scores[0]
    span_scores = result.scores[1:] if len(texts) > 1 else [summary]
    missing = [name for name in names if ATTRIBUTES[name] not in summary]
    if missing:  # a model without that label (VIGIE_MODEL can name any classifier)
        raise PerspectiveError(400, f"Attribute {missing[0]} is not available with this server's model.")
    attribute_scores: dict[str, Any] = {}
    for name in names:
        label = ATTRIBUTES[name]
        params = req.requestedAttributes[name]
        threshold = params.scoreThreshold if params is not None else None
        if threshold is not None and summary[label] < threshold:
            continue  # Perspective omits attributes scoring below the requested threshold
        attribute_scores[name] = {
            "spanScores": [{"begin": a, "end": b, "score": _score_value(s[label])}
                           for (a, b), s in zip(spans, span_scores)],
            "summaryScore": _score_value(summary[label]),
        }
    if not req.doNotStore:
        _store_analyzed(site, text, languages, req.clientToken, summary, result, latency_ms)
    body: dict[str, Any] = {"attributeScores": attribute_scores, "languages": languages}
    if detected:
        body["detectedLanguages"] = languages
    if req.clientToken is not None:
        body["clientToken"] = req.clientToken
    return jsonify(body)


def _store_analyzed(site: Site, text: str, languages: list[str], client_token: str | None,
                    summary: dict[str, float], result: sync.SyncScores, latency_ms: float) -> None:
    """``doNotStore: false``: keep the comment like Perspective would, and decide it so moderators see it."""
    session = db_session()
    item = CommentIn(text=text, language=languages[0][:16] if languages else None)
    comment, _ = store(session, site, [item], source="perspective")[0]
    decide_scored(session, site, comment, summary, result.model, result.version, result.threshold, latency_ms,
                  vigie())


@bp.post("/v1alpha1/comments:suggestscore")
def suggest_score():
    site = _site()
    req = _parse(SuggestRequest)
    text = _text(req.comment)
    names = list(req.attributeScores)
    languages, detected = _languages(req.languages, names)
    _check_attributes(names, languages)
    session = db_session()
    for name in names:
        summary = req.attributeScores[name].summaryScore
        if summary is None:
            raise PerspectiveError(400, f"Invalid value at 'attributeScores.{name}.summaryScore': "
                                        "Field required")
        session.add(ScoreLabel(site_id=site.id, text=text, attribute=ATTRIBUTES[name], score=summary.value,
                               source="suggestscore", client_token=req.clientToken))
    session.commit()
    body: dict[str, Any] = {"requestedLanguages": languages} if not detected else {"detectedLanguages": languages}
    if req.clientToken is not None:
        body["clientToken"] = req.clientToken
    return jsonify(body)


@bp.errorhandler(PerspectiveError)
def _perspective_error(exc: PerspectiveError):
    return google_error(exc.code, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    code = exc.code or 500
    message = "Request payload size exceeds the limit." if code == 413 else (exc.description or exc.name)
    return google_error(code, message)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

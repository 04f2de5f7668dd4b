"""Perspective-compatible API: ``POST /v1alpha1/comments:analyze`` and ``POST /v1alpha1/comments:suggestscore``
with ``?key=API_KEY``, following Perspective's public request and response format, so a site switches by changing
one base URL. Errors are Google-style ``{"error": {"code", "message", "status"}}``. See docs/integrations.md."""
from __future__ import annotations

import re
import time
from typing import Annotated, Any

from flask import Blueprint, Flask, jsonify, request

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from core.decisions import decide_scored
from core.ingest import CommentIn, check_text, store
from core.inputlimits import no_nul
from core.keys import site_for_key
from core.storage.models import ScoreLabel, Site
from service.context import db_session, vigie
from service.errors import RETRY_AFTER_S, ApiError, parse_json, validation_message
from service.integrations import discovery, sync
from service.integrations.languages import detect

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


ERROR_DETAIL_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"


class PerspectiveError(Exception):
    """An error in Perspective's shape. ``error_type`` is Perspective's ``details[].errorType`` (COMMENT_EMPTY,
    COMMENT_TOO_LONG, NO_REQUESTED_ATTRIBUTES, LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE, LANGUAGE_DETECTION_FAILED,
    INVALID_REQUEST), ``extra`` the detail's other fields; ``details`` replaces the whole list."""

    def __init__(self, code: int, message: str, error_type: str | None = None, details: list | None = None,
                 **extra: Any):
        super().__init__(message)
        self.code, self.message = code, message
        if details is None and error_type is not None:
            details = [{"@type": ERROR_DETAIL_TYPE, "errorType": error_type, **extra}]
        self.details = details


def google_error(code: int, message: str, details: list | None = None):
    error: dict[str, Any] = {"code": code, "message": message, "status": GOOGLE_STATUS.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    response = jsonify({"error": error})
    response.status_code = code
    if code == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _invalid(message: str) -> PerspectiveError:
    return PerspectiveError(400, message, "INVALID_REQUEST")


def _language_error(attribute: str, languages: list[str], detected: bool) -> PerspectiveError:
    key = "detectedLanguages" if detected else "requestedLanguages"
    return PerspectiveError(400, f"Attribute {attribute} does not support request languages: {', '.join(languages)}",
                            "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
                            languageNotSupportedByAttributeError={key: languages, "attribute": attribute})


# ------------------------------------------------------------------------------------------------- schemas
class _Lenient(BaseModel):
    """Perspective's messages: unknown fields are accepted and ignored, as Google's service does; known fields
    are checked."""
    model_config = ConfigDict(extra="ignore")



class TextEntry(_Lenient):
    text: str | None = None
    type: str | None = Field(None, pattern=r"^(PLAIN_TEXT|TEXT_TYPE_UNSPECIFIED)$")


class ArticleAndParentComment(_Lenient):
    article: TextEntry | None = None
    parentComment: TextEntry | None = None


class Context(_Lenient):
    """Accepted (within limits) and not used for scoring."""
    entries: list[TextEntry] = Field(default_factory=list, max_length=20)
    articleAndParentComment: ArticleAndParentComment | None = None


class AttributeParameters(_Lenient):
    scoreType: str | None = Field(None, pattern=r"^(PROBABILITY|SCORE_TYPE_UNSPECIFIED)$")
    scoreThreshold: float | None = Field(None, ge=0, le=1)


Language = Annotated[str, AfterValidator(no_nul)]
Stored = Annotated[str, Field(max_length=200), AfterValidator(no_nul)]  # kept in the database: no NUL


class AnalyzeRequest(_Lenient):
    comment: TextEntry
    context: Context | None = None
    requestedAttributes: dict[str, AttributeParameters | None] = Field(default_factory=dict)
    spanAnnotations: bool = False
    dropUnsupportedAttributes: bool = False
    languages: list[Language] | None = Field(None, max_length=10)
    doNotStore: bool = False
    clientToken: str | None = Field(None, max_length=200)
    sessionId: str | None = Field(None, max_length=200)
    communityId: str | None = Field(None, max_length=200)


class Score(_Lenient):
    value: float = Field(ge=0, le=1)
    type: str | None = None


class SpanScore(_Lenient):
    begin: int | None = None
    end: int | None = None
    score: Score


class AttributeScores(_Lenient):
    summaryScore: Score | None = None
    spanScores: list[SpanScore] | None = None


class SuggestRequest(_Lenient):
    comment: TextEntry
    context: Context | None = None
    attributeScores: dict[str, AttributeScores]
    languages: list[Language] | None = Field(None, max_length=10)
    communityId: str | None = Field(None, max_length=200)
    clientToken: Stored | None = None
    sessionId: str | None = Field(None, max_length=200)


# ------------------------------------------------------------------------------------------------- helpers
def _site() -> Site:
    key = request.args.get("key") or request.headers.get("X-Goog-Api-Key")
    if not key:
        raise PerspectiveError(403, "The request is missing a valid API key.")
    site = site_for_key(db_session(), key)
    if site is None:
        raise PerspectiveError(400, "API key not valid. Please pass a valid API key.", details=[
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com"}])
    return site


def _parse(schema: type[BaseModel]) -> Any:
    """The body through the one JSON parser (service.errors.parse_json), its errors in Perspective's words."""
    try:
        return parse_json(request.get_data(cache=False), schema)
    except ApiError as exc:
        field = exc.extra.get("field", "body")
        if exc.code == "invalid_json":
            raise _invalid("Invalid JSON payload received.") from None
        if exc.code == "unknown_field":  # not raised while the schemas ignore unknown fields (as Perspective does)
            raise _invalid(f'Invalid JSON payload received. Unknown name "{field}": Cannot find field.') from None
        details = exc.extra.get("details")
        if not details:  # not a JSON object
            raise _invalid("Invalid JSON payload received. Expected an object.") from None
        raise _invalid(f"Invalid value at '{field}': {details[0]['message']}") from None


def _text(entry: TextEntry) -> str:
    """The comment's text: not blank, at most 20 KB of UTF-8 (Perspective's limit) and at most
    ``VIGIE_MAX_TEXT_CHARS`` characters (the server's own limit, as on every other surface)."""
    text = entry.text or ""
    if not text.strip():
        raise PerspectiveError(400, "Comment must be non-empty.", "COMMENT_EMPTY")
    if len(text) > vigie().settings.max_text_chars or len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise PerspectiveError(400, "Comment text too long.", "COMMENT_TOO_LONG")
    if check_text(text) is not None:
        raise _invalid("Comment text contains invalid characters (NUL or unpaired surrogates).")
    return text


def supported_languages() -> list[str]:
    return [x.strip().lower() for x in vigie().settings.perspective_languages.split(",") if x.strip()]


def _languages(requested: list[str] | None, text: str, attributes: list[str],
               drop_unsupported: bool = False) -> tuple[list[str], bool]:
    """(languages, detected). ``languages`` in the request wins, as in Perspective; without it the text's language
    is identified (service/integrations/languages.py). A language outside VIGIE_PERSPECTIVE_LANGUAGES is
    Perspective's LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE (unless ``dropUnsupportedAttributes``: then no attribute
    is scored)."""
    supported = supported_languages()
    first = attributes[0] if attributes else "TOXICITY"
    langs = [x.strip()[:35] for x in requested or [] if x.strip()]
    if langs:
        unsupported = [x for x in langs if x.lower().split("-")[0].split("_")[0] not in supported]
        if unsupported and not drop_unsupported:
            raise _language_error(first, unsupported, detected=False)
        return langs, False

    language, _ = detect(text, supported)
    if language is None:  # nothing to go on (a link, emoji, digits): the site's first language
        language = supported[0] if supported else "fr"
    if language not in supported and not drop_unsupported:
        raise _language_error(first, [language], detected=True)
    return [language], True


def _languages_supported(languages: list[str]) -> bool:
    supported = supported_languages()
    return all(x.lower().split("-")[0].split("_")[0] in supported for x in languages)


def _check_attributes(names: list[str], languages: list[str], drop_unsupported: bool = False) -> list[str]:
    """The requested attributes Vigie scores; with ``dropUnsupportedAttributes`` the others are left out instead
    of refused, as in Perspective."""
    if not names:
        raise PerspectiveError(400, "Requested attributes must be non-empty.", "NO_REQUESTED_ATTRIBUTES")
    kept = []
    for name in names:
        if name in ATTRIBUTES:
            if drop_unsupported and not _languages_supported(languages):
                continue
            kept.append(name)
        elif name.upper() in OTHER_PERSPECTIVE_ATTRIBUTES:
            if not drop_unsupported:
                raise _language_error(name, languages, detected=False)
        else:
            raise _invalid(f"Unknown requested attribute: {name[:100]}")
    return kept


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
    requested = list(req.requestedAttributes)
    if not requested:
        raise PerspectiveError(400, "Requested attributes must be non-empty.", "NO_REQUESTED_ATTRIBUTES")
    languages, detected = _languages(req.languages, text, requested, req.dropUnsupportedAttributes)
    names = _check_attributes(requested, languages, req.dropUnsupportedAttributes)
    if not names:  # every attribute dropped (dropUnsupportedAttributes): nothing to score
        body: dict[str, Any] = {"attributeScores": {}, "languages": languages}
        if detected:
            body["detectedLanguages"] = languages
        if req.clientToken is not None:
            body["clientToken"] = req.clientToken
        return jsonify(body)
    spans = sentence_spans(text) if req.spanAnnotations else [(0, len(text))]
    texts = [text] + ([text[a:b] for a, b in spans] if req.spanAnnotations and len(spans) > 1 else [])
    settings = vigie().settings
    started = time.perf_counter()
    try:
        result = sync.score(vigie().redis, texts, settings.sync_timeout_ms, sealed=req.doNotStore,
                            site_id=site.id)
    except sync.SyncUnavailable as exc:
        raise PerspectiveError(503, f"The service is currently unavailable: {exc}.") from None
    latency_ms = (time.perf_counter() - started) * 1000
    summary = result.scores[0]
    span_scores = result.scores[1:] if len(texts) > 1 else [summary]
    missing = [name for name in names if ATTRIBUTES[name] not in summary]
    if missing:  # a model without that label (VIGIE_MODEL can name any classifier)
        raise _invalid(f"Attribute {missing[0]} is not available with this server's model.")
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
    if not names:
        raise _invalid("attributeScores must not be empty.")
    languages, detected = _languages(req.languages, text, names)
    _check_attributes(names, languages)
    labels: list[ScoreLabel] = []
    for name in names:
        scores = req.attributeScores[name]
        if scores.summaryScore is None and not scores.spanScores:
            raise _invalid(f"Invalid value at 'attributeScores.{name}': a summaryScore or spanScores is required.")
        if scores.summaryScore is not None:
            labels.append(ScoreLabel(site_id=site.id, text=text, attribute=ATTRIBUTES[name],
                                     score=scores.summaryScore.value, source="suggestscore",
                                     client_token=req.clientToken))
        for index, span in enumerate(scores.spanScores or []):
            begin, end = span.begin, span.end
            if begin is None or end is None or not 0 <= begin < end <= len(text):
                raise _invalid(f"Invalid value at 'attributeScores.{name}.spanScores[{index}]': begin and end "
                               "must be set, within the comment, begin < end.")
            labels.append(ScoreLabel(site_id=site.id, text=text[begin:end], attribute=ATTRIBUTES[name],
                                     score=span.score.value, source="suggestscore-span",
                                     client_token=req.clientToken))
    session = db_session()
    session.add_all(labels)
    session.commit()
    body: dict[str, Any] = {"requestedLanguages": languages} if not detected else {"detectedLanguages": languages}
    if req.clientToken is not None:
        body["clientToken"] = req.clientToken
    return jsonify(body)


@bp.get("/$discovery/rest")
def discovery_document():
    """Perspective's discovery document (for ``googleapiclient.discovery.build(..., discoveryServiceUrl=...)``)."""
    version = request.args.get("version", discovery.API_VERSION)
    if version != discovery.API_VERSION:
        raise PerspectiveError(404, f"Discovery document not found for API service: commentanalyzer {version[:40]}")
    return _discovery()


@bp.get("/discovery/v1/apis/commentanalyzer/<version>/rest")
def discovery_document_v1(version: str):
    """The same document at the discovery service's V1 path (googleapiclient's default discovery URL template)."""
    if version != discovery.API_VERSION:
        raise PerspectiveError(404, f"Discovery document not found for API service: commentanalyzer {version[:40]}")
    return _discovery()


def _discovery():
    root = vigie().settings.public_url or request.host_url
    response = jsonify(discovery.document(root))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.errorhandler(PerspectiveError)
def _perspective_error(exc: PerspectiveError):
    return google_error(exc.code, exc.message, exc.details)


@bp.errorhandler(ValidationError)
def _validation_error(exc: ValidationError):
    """A schema check past the request's own (a stored field): Google's INVALID_ARGUMENT, never the REST shape."""
    message, _ = validation_message(exc)
    return google_error(400, f"Invalid value: {message}")


@bp.errorhandler(OperationalError)
@bp.errorhandler(PoolTimeout)
def _unavailable(_exc: Exception):
    return google_error(503, "The service is currently unavailable: the database cannot be reached.")


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    code = exc.code or 500
    message = "Request payload size exceeds the limit." if code == 413 else (exc.description or exc.name)
    return google_error(code, message)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

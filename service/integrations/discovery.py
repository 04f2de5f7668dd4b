"""A Google API discovery document for the Perspective-compatible API (``commentanalyzer`` ``v1alpha1``), so that
Google's discovery-based clients (``googleapiclient.discovery.build``, and the other languages' generic clients)
start against Vigie: ``discoveryServiceUrl=<vigie>/$discovery/rest?version=v1alpha1``.

It describes what Vigie serves, in the discovery format Google publishes (methods ``comments.analyze`` and
``comments.suggestscore``, their request and response schemas), with ``rootUrl`` set to Vigie's own address:
``VIGIE_PUBLIC_URL`` when set (behind a proxy), else the address the request came to."""
from __future__ import annotations

from typing import Any

API_NAME = "commentanalyzer"
API_VERSION = "v1alpha1"

_STRING = {"type": "string"}
_NUMBER = {"type": "number", "format": "float"}
_BOOLEAN = {"type": "boolean"}
_INTEGER = {"type": "integer", "format": "int32"}


def _obj(schema_id: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"id": schema_id, "type": "object", "description": description, "properties": properties}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": name}


SCHEMAS: dict[str, Any] = {
    "TextEntry": _obj("TextEntry", "Represents a body of text.", {
        "text": {**_STRING, "description": "UTF-8 encoded text."},
        "type": {**_STRING, "enum": ["TEXT_TYPE_UNSPECIFIED", "PLAIN_TEXT", "HTML"]},
    }),
    "ArticleAndParentComment": _obj("ArticleAndParentComment", "The comment's article and parent comment.", {
        "article": _ref("TextEntry"), "parentComment": _ref("TextEntry")}),
    "Context": _obj("Context", "Context of the comment (accepted, not used).", {
        "entries": {"type": "array", "items": _ref("TextEntry")},
        "articleAndParentComment": _ref("ArticleAndParentComment"),
    }),
    "AttributeParameters": _obj("AttributeParameters", "Parameters of a requested attribute.", {
        "scoreType": {**_STRING, "enum": ["SCORE_TYPE_UNSPECIFIED", "PROBABILITY", "STD_DEV_SCORE", "PERCENTILE",
                                          "RAW"]},
        "scoreThreshold": _NUMBER,
    }),
    "AnalyzeCommentRequest": _obj("AnalyzeCommentRequest", "The comment analysis request message.", {
        "comment": _ref("TextEntry"),
        "context": _ref("Context"),
        "requestedAttributes": {"type": "object", "additionalProperties": _ref("AttributeParameters")},
        "spanAnnotations": _BOOLEAN,
        "languages": {"type": "array", "items": _STRING},
        "doNotStore": _BOOLEAN,
        "clientToken": _STRING,
        "sessionId": _STRING,
        "communityId": _STRING,
    }),
    "Score": _obj("Score", "Analysis score.", {
        "value": _NUMBER,
        "type": {**_STRING, "enum": ["SCORE_TYPE_UNSPECIFIED", "PROBABILITY", "STD_DEV_SCORE", "PERCENTILE",
                                     "RAW"]},
    }),
    "SpanScore": _obj("SpanScore", "A score for a span of the text.", {
        "begin": _INTEGER, "end": _INTEGER, "score": _ref("Score")}),
    "AttributeScores": _obj("AttributeScores", "The scores of one attribute.", {
        "summaryScore": _ref("Score"), "spanScores": {"type": "array", "items": _ref("SpanScore")}}),
    "AnalyzeCommentResponse": _obj("AnalyzeCommentResponse", "The comment analysis response message.", {
        "attributeScores": {"type": "object", "additionalProperties": _ref("AttributeScores")},
        "languages": {"type": "array", "items": _STRING},
        "detectedLanguages": {"type": "array", "items": _STRING},
        "clientToken": _STRING,
    }),
    "SuggestCommentScoreRequest": _obj("SuggestCommentScoreRequest", "Scores suggested for a comment.", {
        "comment": _ref("TextEntry"),
        "context": _ref("Context"),
        "attributeScores": {"type": "object", "additionalProperties": _ref("AttributeScores")},
        "languages": {"type": "array", "items": _STRING},
        "communityId": _STRING,
        "clientToken": _STRING,
        "sessionId": _STRING,
    }),
    "SuggestCommentScoreResponse": _obj("SuggestCommentScoreResponse", "The suggested-score response.", {
        "detectedLanguages": {"type": "array", "items": _STRING},
        "requestedLanguages": {"type": "array", "items": _STRING},
        "clientToken": _STRING,
    }),
}

_QUERY = {"location": "query"}
PARAMETERS = {
    "key": {**_STRING, **_QUERY, "description": "API key (a Vigie API key of the site)."},
    "alt": {**_STRING, **_QUERY, "default": "json", "enum": ["json"]},
    "fields": {**_STRING, **_QUERY},
    "prettyPrint": {**_BOOLEAN, **_QUERY, "default": "true"},
    "quotaUser": {**_STRING, **_QUERY},
    "access_token": {**_STRING, **_QUERY},
    "oauth_token": {**_STRING, **_QUERY},
    "$.xgafv": {**_STRING, **_QUERY, "enum": ["1", "2"]},
}


def _method(name: str, request_schema: str, response_schema: str, description: str) -> dict[str, Any]:
    return {"id": f"{API_NAME}.comments.{name}", "path": f"{API_VERSION}/comments:{name}",
            "flatPath": f"{API_VERSION}/comments:{name}", "httpMethod": "POST", "parameters": {},
            "parameterOrder": [], "request": _ref(request_schema), "response": _ref(response_schema),
            "description": description}


def document(root_url: str) -> dict[str, Any]:
    """The discovery document, ``rootUrl`` being Vigie's base URL (ending with ``/``)."""
    root_url = root_url.rstrip("/") + "/"
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": f"{API_NAME}:{API_VERSION}",
        "name": API_NAME,
        "version": API_VERSION,
        "revision": "vigie",
        "title": "Perspective Comment Analyzer API (served by Vigie)",
        "description": "Perspective-compatible toxicity scoring served by Vigie.",
        "protocol": "rest",
        "rootUrl": root_url,
        "servicePath": "",
        "baseUrl": root_url,
        "batchPath": "batch",
        "parameters": PARAMETERS,
        "schemas": SCHEMAS,
        "resources": {"comments": {"methods": {
            "analyze": _method("analyze", "AnalyzeCommentRequest", "AnalyzeCommentResponse",
                               "Analyzes the provided text and returns scores for the requested attributes."),
            "suggestscore": _method("suggestscore", "SuggestCommentScoreRequest", "SuggestCommentScoreResponse",
                                    "Suggest comment scores as training data."),
        }}},
    }

"""The OpenAPI 3.1 document of API v1, served at ``GET /openapi.json`` (public, cacheable).

It is written as YAML fragments in this folder: ``base.yaml`` (``openapi``, ``info``, ``servers``, the shared
``components``: security schemes, the error body, common responses) and one file per surface (``api.yaml``,
``perspective.yaml``, ``coral.yaml``, ``webhooks.yaml``, ...), each with a top-level ``paths:`` and optional
``components:`` (and ``tags:``). ``load()`` merges every ``*.yaml`` file here, strictly: an operation (a path's
method), a path-level key (``parameters``, ``summary``...), a component name or a tag defined twice, or any other
top-level key in a surface file, is an ``OpenAPIMergeError`` naming the files. A path may be shared by files that
each add their own methods (``GET /api/v1/comments/{comment_id}`` in api.yaml, its ``DELETE`` in ops.yaml).
Adding a surface is dropping ``<name>.yaml`` here (packaged with the wheel: pyproject's package-data).

``document(settings)`` is the merged document with the limits that follow the server's settings filled in
(``VIGIE_MAX_TEXT_CHARS``, ``VIGIE_MAX_BATCH``, ``VIGIE_PERSPECTIVE_LANGUAGES``: the limits the REST API, the
webhook, Coral and the Perspective API apply); the app builds it once.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from flask import Blueprint, Flask, Response, current_app, request

from core.settings import Settings

BASE = "base.yaml"
SURFACE_KEYS = {"paths", "components", "tags"}
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
bp = Blueprint("openapi", __name__)


class OpenAPIMergeError(ValueError):
    """The fragments do not merge into one document (something defined twice, or misplaced)."""


def fragments() -> dict[str, dict[str, Any]]:
    """Every ``*.yaml`` file of this package, parsed, by file name (sorted)."""
    folder = resources.files(__name__)
    out: dict[str, dict[str, Any]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")) and entry.is_file():
            try:
                data = yaml.safe_load(entry.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise OpenAPIMergeError(f"{entry.name}: not valid YAML: {exc}") from None
            if not isinstance(data, dict):
                raise OpenAPIMergeError(f"{entry.name}: expected a mapping at the top level")
            out[entry.name] = data
    if BASE not in out:
        raise OpenAPIMergeError(f"{BASE} is missing from {folder}")
    return out


def merge(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge ``parts`` (file name -> parsed fragment; ``base.yaml`` first) into one document. Strict: see the
    module's docstring."""
    doc = copy.deepcopy(parts[BASE])
    doc.setdefault("paths", {})
    doc.setdefault("components", {})
    doc.setdefault("tags", [])
    owners: dict[tuple[str, ...], str] = {("paths", p, k): BASE for p, item in doc["paths"].items() for k in item}
    owners.update({("components", section, name): BASE
                   for section, entries in doc["components"].items() for name in (entries or {})})
    owners.update({("tags", t["name"]): BASE for t in doc["tags"]})
    for name, part in parts.items():
        if name == BASE:
            continue
        misplaced = sorted(set(part) - SURFACE_KEYS)
        if misplaced:
            raise OpenAPIMergeError(f"{name}: only {', '.join(sorted(SURFACE_KEYS))} belong in a surface file, "
                                    f"not {', '.join(misplaced)} (shared things go in {BASE})")
        for path, item in (part.get("paths") or {}).items():
            if not isinstance(item, dict):
                raise OpenAPIMergeError(f"{name}: paths.{path} must be a mapping")
            target = doc["paths"].setdefault(path, {})
            for key, value in item.items():
                what = f"{key.upper()} {path}" if key in METHODS else f"paths.{path}.{key}"
                _claim(owners, ("paths", path, key), name, what)
                target[key] = value
        for section, entries in (part.get("components") or {}).items():
            if not isinstance(entries, dict):
                raise OpenAPIMergeError(f"{name}: components.{section} must be a mapping")
            target = doc["components"].setdefault(section, {})
            for key, value in entries.items():
                _claim(owners, ("components", section, key), name, f"components.{section}.{key}")
                target[key] = value
        for tag in part.get("tags") or []:
            _claim(owners, ("tags", tag["name"]), name, f"tag {tag['name']}")
            doc["tags"].append(tag)
    if not doc["tags"]:
        del doc["tags"]
    return doc


def _claim(owners: dict[tuple[str, ...], str], key: tuple[str, ...], name: str, what: str) -> None:
    if key in owners:
        raise OpenAPIMergeError(f"{what} is defined twice: in {owners[key]} and in {name}")
    owners[key] = name


@lru_cache(maxsize=1)
def load() -> dict[str, Any]:
    """The merged document as written in the files (defaults for the settings' limits). Do not modify it."""
    return merge(fragments())


def _language_pattern(languages: list[str]) -> str:
    def either_case(code: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in code)

    codes = "|".join(either_case(code) for code in languages) or "(?!)"
    return rf"^\s*(?:{codes})(?:[-_][A-Za-z0-9]{{1,8}})*\s*$"


def document(settings: Settings) -> dict[str, Any]:
    """The document with this server's own limits."""
    doc = copy.deepcopy(load())
    schemas = doc["components"]["schemas"]
    schemas["CommentIn"]["properties"]["text"]["maxLength"] = settings.max_text_chars
    perspective_text = schemas["PerspectiveComment"]["properties"]["text"]
    perspective_text["maxLength"] = min(perspective_text["maxLength"], settings.max_text_chars)
    coral = schemas["ExternalModerationRequest"]["properties"]["comment"]["properties"]["body"]
    coral["maxLength"] = settings.max_text_chars
    schemas["CommentBatchIn"]["properties"]["comments"]["maxItems"] = settings.max_batch
    languages = [x.strip().lower() for x in settings.perspective_languages.split(",") if x.strip()]
    schemas["PerspectiveLanguage"]["pattern"] = _language_pattern(languages)
    return doc


# --------------------------------------------------------------------------------------------------- serving
@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The document; public (no key), cacheable for 5 minutes, with an ETag (304 when it is unchanged)."""
    body, etag = current_app.extensions["vigie_openapi"]
    response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = 300
    response.headers["Access-Control-Allow-Origin"] = "*"  # API explorers on another origin may read it
    return response.make_conditional(request)


def init_app(app: Flask) -> None:
    doc = document(app.extensions["vigie"].settings)
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    app.extensions["vigie_openapi"] = (body, hashlib.sha256(body).hexdigest()[:32])
    app.register_blueprint(bp)

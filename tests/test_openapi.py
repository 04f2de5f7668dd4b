"""The OpenAPI document stays true: it is a valid OpenAPI 3.1 document, every route of the documented surfaces is in
it and every documented operation is a route, its fragments merge strictly, it is served at ``/openapi.json``
(public, cacheable, with the server's own limits) and the YAML files ship in the wheel. The responses themselves are
checked against it by schemathesis on a live server (tests/test_openapi_live.py)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from service import openapi

ROOT = Path(__file__).resolve().parent.parent
# The surfaces the document covers: these blueprints, and any route under these prefixes (a helper adding a
# route there must document it in service/openapi/<name>.yaml).
DOCUMENTED_BLUEPRINTS = {"api", "perspective", "coral", "webhooks_in", "integrations_admin", "health", "openapi"}
DOCUMENTED_PREFIXES = ("/api/", "/v1alpha1/", "/integrations/", "/webhooks/", "/discovery/", "/$discovery/")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def flask_operations(app, surfaces_only: bool = True) -> dict[tuple[str, str], str]:
    """(OpenAPI path, method) -> endpoint for every route of the documented surfaces (or of the whole app)."""
    out = {}
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if surfaces_only and blueprint not in DOCUMENTED_BLUEPRINTS and not rule.rule.startswith(DOCUMENTED_PREFIXES):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            out[(path, method.lower())] = rule.endpoint
    return out


def documented_operations(doc) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item if method in HTTP_METHODS}


def test_the_document_is_valid_openapi_3_1():
    doc = openapi.load()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises with the offending place


def test_every_route_of_the_documented_surfaces_is_documented_and_every_documented_operation_exists(app):
    routes = flask_operations(app)
    documented = documented_operations(openapi.load())
    undocumented = sorted(set(routes) - documented)
    missing = sorted(documented - set(flask_operations(app, surfaces_only=False)))
    problems = []
    if undocumented:
        problems.append("routes missing from the OpenAPI document (add them to service/openapi/<surface>.yaml):\n"
                        + "\n".join(f"  {m.upper()} {p}  ({routes[(p, m)]})" for p, m in undocumented))
    if missing:
        problems.append("documented operations no route serves:\n"
                        + "\n".join(f"  {m.upper()} {p}" for p, m in missing))
    assert not problems, "\n".join(problems)
    assert len(documented) >= 20


def test_every_operation_documents_its_errors_and_refers_only_to_defined_components():
    doc = openapi.load()
    text = repr(doc)
    for ref in set(re.findall(r"#/components/(\w+)/([\w.-]+)", text)):
        section, name = ref
        assert name in doc["components"].get(section, {}), f"#/components/{section}/{name} is not defined"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            statuses = set(op["responses"])
            assert op.get("operationId"), (method, path)
            assert any(s.startswith("2") or s == "304" for s in statuses), (method, path)
            if op.get("security"):  # an authenticated operation says what a wrong credential gets
                assert statuses & {"401", "403", "400"}, (method, path, statuses)
            if "requestBody" in op:
                assert {"400", "413"} <= statuses or path.startswith("/v1alpha1/"), (method, path, statuses)
            if path.startswith(("/api/", "/v1alpha1/", "/integrations/coral")):
                assert "429" in statuses, f"{method.upper()} {path}: rate-limited, 429 not documented"


def test_request_bodies_state_their_limits():
    schemas = openapi.load()["components"]["schemas"]
    text = schemas["CommentIn"]["properties"]["text"]
    assert text["maxLength"] == 20000 and text["minLength"] == 1 and schemas["CommentIn"]["required"] == ["text"]
    assert schemas["CommentIn"]["additionalProperties"] is False  # unknown fields are refused
    assert schemas["CommentBatchIn"]["properties"]["comments"]["maxItems"] == 100
    assert schemas["DecisionIn"]["properties"]["decision"]["enum"] == ["approve", "reject", "approved", "rejected"]
    assert schemas["ExternalModerationRequest"]["properties"]["action"]["enum"] == ["NEW", "EDIT"]
    assert set(schemas["AnalyzeCommentRequest"]["required"]) == {"comment", "requestedAttributes"}


def test_the_patterns_say_what_the_server_accepts():
    """The JSON-schema patterns that stand for the server's rules agree with them on examples."""
    schemas = openapi.load()["components"]["schemas"]
    text = re.compile(schemas["CommentIn"]["properties"]["text"]["pattern"])
    assert text.search("Bonjour") and text.search("  é ") and not text.search("   ") and not text.search("a\x00b")
    language = re.compile(openapi.document(_settings())["components"]["schemas"]["PerspectiveLanguage"]["pattern"])
    assert all(language.search(x) for x in ("fr", "FR", "fr-FR", " en ", "pt_BR"))
    assert not any(language.search(x) for x in ("ja", "french", "fr\x00", ""))


def _settings(**overrides):
    from core.settings import Settings

    return Settings(**{"max_text_chars": 20000, "max_batch": 100, "perspective_languages": "fr,en,de,es,it,pt,ro",
                       **overrides})


def test_the_served_document_carries_the_servers_own_limits():
    doc = openapi.document(_settings(max_text_chars=1234, max_batch=7, perspective_languages="fr,ro"))
    schemas = doc["components"]["schemas"]
    assert schemas["CommentIn"]["properties"]["text"]["maxLength"] == 1234
    assert schemas["CommentBatchIn"]["properties"]["comments"]["maxItems"] == 7
    assert schemas["PerspectiveComment"]["properties"]["text"]["maxLength"] == 1234
    assert schemas["ExternalModerationRequest"]["properties"]["comment"]["properties"]["body"]["maxLength"] == 1234
    language = re.compile(schemas["PerspectiveLanguage"]["pattern"])
    assert language.search("ro-RO") and not language.search("en")
    assert openapi.load()["components"]["schemas"]["CommentIn"]["properties"]["text"]["maxLength"] == 20000
    validate(doc)


def test_openapi_json_is_public_and_cacheable(client, settings):
    response = client.get("/openapi.json")  # no key
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == openapi.document(settings)
    assert "public" in response.headers["Cache-Control"] and "max-age=300" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    again = client.get("/openapi.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data


# ------------------------------------------------------------------------------------------- strict merging
def _parts(**surfaces):
    return {"base.yaml": {"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
                          "components": {"schemas": {"Error": {"type": "object"}}}}, **surfaces}


def test_merging_puts_every_surface_in_one_document():
    doc = openapi.merge(_parts(**{
        "a.yaml": {"paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}},
                   "components": {"schemas": {"A": {"type": "string"}}}},
        "b.yaml": {"paths": {"/b": {"get": {"responses": {"200": {"description": "ok"}}}}},
                   "components": {"responses": {"B": {"description": "b"}}}}}))
    assert set(doc["paths"]) == {"/a", "/b"}
    assert set(doc["components"]["schemas"]) == {"Error", "A"} and "B" in doc["components"]["responses"]


def test_a_path_may_be_shared_by_surfaces_adding_their_own_methods():
    ok = {"responses": {"200": {"description": "ok"}}}
    doc = openapi.merge(_parts(**{"a.yaml": {"paths": {"/x": {"get": ok}}},
                                  "b.yaml": {"paths": {"/x": {"delete": ok}}}}))
    assert set(doc["paths"]["/x"]) == {"get", "delete"}


@pytest.mark.parametrize("surfaces, message", [
    ({"a.yaml": {"paths": {"/x": {"get": {}}}}, "b.yaml": {"paths": {"/x": {"get": {}}}}},
     "GET /x is defined twice: in a.yaml and in b.yaml"),
    ({"a.yaml": {"paths": {"/x": {"parameters": []}}}, "b.yaml": {"paths": {"/x": {"parameters": []}}}},
     "paths./x.parameters is defined twice: in a.yaml and in b.yaml"),
    ({"a.yaml": {"components": {"schemas": {"Error": {}}}}},
     "components.schemas.Error is defined twice: in base.yaml and in a.yaml"),
    ({"a.yaml": {"components": {"schemas": {"S": {}}}}, "b.yaml": {"components": {"schemas": {"S": {}}}}},
     "components.schemas.S is defined twice: in a.yaml and in b.yaml"),
    ({"a.yaml": {"paths": {}, "info": {"title": "mine"}}}, "a.yaml: only components, paths, tags belong"),
])
def test_merging_is_strict(surfaces, message):
    with pytest.raises(openapi.OpenAPIMergeError, match=re.escape(message)):
        openapi.merge(_parts(**surfaces))


def test_the_shipped_fragments_merge_without_a_clash():
    parts = openapi.fragments()
    assert {"base.yaml", "api.yaml", "perspective.yaml", "coral.yaml", "webhooks.yaml", "admin.yaml"} <= set(parts)
    assert all(set(part) <= openapi.SURFACE_KEYS for name, part in parts.items() if name != "base.yaml")


# ----------------------------------------------------------------------------------------------- packaging
def test_the_wheel_ships_the_yaml_fragments(tmp_path):
    """A non-editable install serves the document: the fragments are package data of the wheel."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("core", "service", "workers"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "models", "node_modules"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("vigie-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {Path(n).name for n in names if n.startswith("service/openapi/") and n.endswith(".yaml")}
    assert shipped == {p.name for p in (ROOT / "service" / "openapi").glob("*.yaml")}, shipped

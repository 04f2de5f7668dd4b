"""Input limits every surface shares, so hostile input is a 4xx and never reaches the database as a 500.

* Row ids are PostgreSQL ``integer`` (int4) columns: ``MAX_ROW_ID`` (core/inputlimits.py) bounds them. The app's ``int`` URL converter
  refuses larger values (a 404, like any id that does not exist), and query parameters that name ids are checked
  with ``row_id_arg``.
* NUL characters cannot be stored or compared by PostgreSQL: a NUL in the URL path or a query parameter is a 400
  for every surface (the dashboard also checks its forms), and ``no_nul`` (core/inputlimits.py) refuses them in body fields.
* JSON nested deeper than Python's recursion limit raises ``RecursionError`` while parsing: a 400 ``invalid_json``
  wherever it escapes a surface's own parser.
"""
from __future__ import annotations

import builtins

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

from core.inputlimits import MAX_ROW_ID
from service.errors import error_response



class RowIdConverter(IntegerConverter):
    """``<int:...>`` with ``max`` defaulting to MAX_ROW_ID (``int(max=...)`` may still lower it)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002 (werkzeug's names)
        bound = MAX_ROW_ID if max is None else builtins.min(max, MAX_ROW_ID)
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=bound, signed=signed)


def init_app(app: Flask) -> None:
    """Install the bounded ``int`` converter (before any blueprint registers its routes) and the guards."""
    app.url_map.converters["int"] = RowIdConverter

    @app.before_request
    def _refuse_nul():
        if "\x00" in request.path or any("\x00" in k + v for k, v in request.args.items(multi=True)):
            abort(400, description="NUL characters are not accepted in the URL.")

    @app.errorhandler(RecursionError)
    def _too_deep(_exc: RecursionError):
        return error_response(400, "invalid_json", "The body is nested too deeply.")

"""Input limits shared by every surface and the core's own schemas (no Flask here: see service/inputguard.py for
the web side that installs them).

* Row ids are PostgreSQL ``integer`` (int4) columns: ``MAX_ROW_ID`` bounds them; ``is_row_id_text`` says whether
  a text names a possible row id.
* NUL characters cannot be stored or compared by PostgreSQL: ``no_nul`` refuses them in body fields.
"""
from __future__ import annotations

MAX_ROW_ID = 2**31 - 1  # PostgreSQL integer; ids are Integer columns (core/storage/models.py)


def is_row_id_text(text: str | None) -> bool:
    """ASCII digits naming a possible row id (1..MAX_ROW_ID): "²", "1e9" or 30 digits are not ids."""
    return bool(text) and len(text) <= 10 and text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ROW_ID


def no_nul(value: str | None) -> str | None:
    """A pydantic ``AfterValidator``: PostgreSQL cannot store NUL characters."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value

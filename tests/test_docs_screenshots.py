"""The README's and docs' dashboard pictures: every one referenced exists, is a PNG under 300 KB (a clone stays
light), and the phone ones are 390 px wide pages (made by tests/test_dashboard_live_browser.py at 2x)."""
from __future__ import annotations

import re
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 300 * 1024


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_every_dashboard_picture_exists_and_is_small():
    referenced = set()
    for doc, base in ((ROOT / "README.md", ROOT), (ROOT / "docs" / "dashboard.md", ROOT / "docs")):
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+\.png)\)|<img src=\"([^\"]+\.png)\"", text):
            path = (base / next(t for t in target if t)).resolve()
            assert path.exists(), f"{doc.name}: {path} is missing"
            referenced.add(path)
    assert any(p.name.startswith("phone-") for p in referenced) and any(p.name == "queue.png" for p in referenced)
    for path in referenced:
        assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes"
        width, _ = _png_size(path)
        assert width == (780 if path.name.startswith("phone-") else 1280), (path.name, width)

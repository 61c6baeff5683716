"""HTML pieces of the run report: one self-contained page, every image a base64 PNG data URI."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from PIL import Image

STYLE = """body{font:14px system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;image-rendering:pixelated}
figure{display:inline-block;margin:.3em;vertical-align:top}figcaption{font-size:.85em;max-width:16em}
.bar{background:#2563eb;height:.8em;display:inline-block}.note{color:#555}.bad{color:#b91c1c}"""


def text(value) -> str:
    return html.escape(str(value))


def image(picture: Image.Image | bytes | Path, alt: str) -> str:
    """An <img> of a PIL image, PNG bytes or a PNG file, inlined."""
    if isinstance(picture, Path):
        picture = picture.read_bytes()
    if isinstance(picture, Image.Image):
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        picture = buffer.getvalue()
    return f'<img alt="{text(alt)}" src="data:image/png;base64,{base64.b64encode(picture).decode()}">'


def figure(picture, caption: str) -> str:
    return f"<figure>{image(picture, caption)}<figcaption>{text(caption)}</figcaption></figure>"


def table(headers: list[str], rows: list[list], raw: bool = False) -> str:
    """A table; cells are escaped unless `raw` (cells already HTML)."""
    cell = (lambda v: str(v)) if raw else text
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar(value: float, largest: float, width_em: float = 12.0) -> str:
    return f'<span class="bar" style="width:{width_em * value / max(largest, 1e-9):.2f}em"></span>'


def section(anchor: str, title: str, parts: list[str]) -> str:
    return f'<section id="{anchor}"><h2>{text(title)}</h2>{"".join(parts)}</section>'


def note(sentence: str) -> str:
    return f'<p class="note">{text(sentence)}</p>'


def page(title: str, intro: str, sections: list[str]) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{text(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{text(title)}</h1><p>{text(intro)}</p>"
            f'{"".join(sections)}</body></html>')

"""Tables for people: fixed-width text (printed tables) and Markdown (reports), one layout rule.

Written here rather than taken from ``tabulate``: the project does not depend on it, and the
printed tables keep their own layout (quoted in the README and the experiments' notes), which
takes the few lines below.

A column is a format spec: alignment and width, then the number format used for non-string
cells, e.g. ``"<14"`` (left, 14 wide) or ``">9.2f"`` (right, 9 wide, 2 decimals); leading spaces
are a gap printed before the column. Titles and string cells take the alignment and width only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

_SPEC = re.compile(r"(?P<gap> *)(?P<align>[<>^]?)(?P<width>\d*)(?P<number>.*)")


def _cell(value: Any, spec: str, pad: bool = True) -> str:
    m = _SPEC.fullmatch(spec)
    if m is None:
        raise ValueError(f"table column spec {spec!r}: expected e.g. '<14' or '>9.2f'")
    text = value if isinstance(value, str) else format(value, m["number"])
    if not pad:
        return text
    return m["gap"] + format(text, m["align"] + m["width"])


def text_table(header: Sequence[str], rows: Iterable[Sequence[Any]], specs: Sequence[str]) -> str:
    """Fixed-width columns, the titles over a rule as wide as the widest line.

    >>> rows = [["Set12", 30.4321, "ok"]]
    >>> print(text_table(["set", "PSNR", "note"], rows, ["<8", ">7.2f", "  <"]))
    set        PSNR  note
    ---------------------
    Set12     30.43  ok
    """
    head = "".join(_cell(t, s) for t, s in zip(header, specs, strict=True))
    body = ["".join(_cell(v, s) for v, s in zip(row, specs, strict=True)) for row in rows]
    rule = "-" * max(len(line) for line in [head, *body])
    return "\n".join([head, rule, *body])


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], specs: Sequence[str] | None = None
) -> str:
    """A Markdown table; ``specs`` give the number formats (widths are ignored), ``|`` in cells is
    escaped.

    >>> print(markdown_table(["panel", "PSNR"], [["a|b", 30.4321]], ["", ".2f"]))
    | panel | PSNR |
    |---|---|
    | a\\|b | 30.43 |
    """
    specs = specs if specs is not None else [""] * len(header)
    lines = [
        "| " + " | ".join(_markdown_cell(t) for t in header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        cells = (_markdown_cell(_cell(v, s, pad=False)) for v, s in zip(row, specs, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)

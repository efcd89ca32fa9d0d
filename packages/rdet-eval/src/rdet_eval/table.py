"""A plain ASCII table, as the evaluation summaries print them."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table"]


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], footer: Sequence[str] | None = None
) -> str:
    """``+---+`` bordered table; numbers right-aligned, text left-aligned."""
    body = [list(map(str, r)) for r in rows]
    everything = [list(header), *body, *([list(map(str, footer))] if footer else [])]
    widths = [max(len(r[i]) for r in everything) for i in range(len(header))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, w in zip(cells, widths):
            numeric = cell.replace(".", "", 1).isdigit()
            out.append(" " + (cell.rjust(w) if numeric else cell.ljust(w)) + " ")
        return "|" + "|".join(out) + "|"

    parts = [rule, line(header), rule, *(line(r) for r in body), rule]
    if footer:
        parts += [line(footer), rule]
    return "\n".join(parts)

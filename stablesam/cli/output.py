"""Printing results: one JSON object with ``--json``, an aligned table otherwise."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["add_json_flag", "emit", "format_table"]


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Format ``rows`` (mappings with the same keys) as a left-aligned text table."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def emit(result: Mapping[str, Any], *, as_json: bool, rows_key: str | None = None, stream=None) -> None:
    """Print ``result``: as one JSON object, or as ``key: value`` lines (and a table of ``rows_key``)."""
    stream = stream or sys.stdout
    if as_json:
        print(json.dumps(_jsonable(result), sort_keys=False), file=stream)
        return
    for key, value in result.items():
        if key != rows_key:
            print(f"{key}: {_cell(_jsonable(value))}", file=stream)
    if rows_key is not None:
        print(format_table(result[rows_key]), file=stream)

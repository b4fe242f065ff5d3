"""The report of ``stablesam verify``: ``verdicts.json`` (with its JSON Schema), ``report.md`` and ``report.html``.

The verdicts document (:func:`stablesam.analysis.verify.run.verify`) is checked against :data:`VERDICTS_SCHEMA` before
anything is written (:func:`stablesam.core.schema.schema_errors`, a small checker of the JSON Schema keywords the
schema uses, so that no extra package is needed; the tests also validate with ``jsonschema`` where it is installed). Both reports are
rendered from one list of blocks (:func:`report_blocks`): a table of claims with their verdicts and key numbers,
then one section per claim with its figure, decision rule, theory check, cases, pending parts, settings and what
would change the verdict, then the settings and the provenance. ``report.html`` is self-contained: its figures
are embedded as base64 PNG. Non-finite numbers are written as ``null``.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from pathlib import Path
from typing import Any

from stablesam.analysis.verify.experiments import KINDS, SCALES
from stablesam.analysis.verify.verdicts import VERDICTS
from stablesam.core.schema import schema_errors
from stablesam.core.store import Store

__all__ = ["VERDICTS_SCHEMA", "jsonable", "read_verdict_guide", "render_html", "render_markdown", "report_blocks",
           "verdict_table", "write_report"]

_NUMBER = {"type": ["number", "null"]}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_INTERVAL = {
    "type": ["object", "null"],
    "required": ["estimate", "low", "high", "n", "confidence", "method", "p_claimed", "p_reverse"],
    "properties": {"estimate": _NUMBER, "low": _NUMBER, "high": _NUMBER, "n": {"type": "integer"},
                   "confidence": {"type": "number"}, "method": {"type": "string"},
                   "p_claimed": _NUMBER, "p_reverse": _NUMBER},
}
_CLAIM = {
    "type": "object",
    "required": ["id", "title", "statement", "source", "verdict", "reading", "key", "rule", "quantity", "theory", "decided_by", "pending",
                 "stronger_than_checked", "would_change", "cases", "notes", "experiments"],
    "properties": {
        "id": {"type": "string", "pattern": "^C[0-9]+$"},
        "title": {"type": "string"}, "statement": {"type": "string"}, "source": {"type": "string"},
        "verdict": {"enum": list(VERDICTS)},
        "reading": {"type": "string"},
        "key": {"type": "object", "required": ["label", "interval"],
                "properties": {"label": {"type": "string"}, "interval": _INTERVAL}},
        "rule": {"type": "object",
                 "required": ["description", "claimed", "boundary", "null", "confidence", "min_units", "text", "combine"],
                 "properties": {"description": {"type": "string"}, "claimed": {"enum": ["greater", "less"]},
                                "boundary": {"type": "number"}, "null": {"type": "number"},
                                "confidence": {"type": "number"}, "min_units": {"type": "integer"},
                                "text": {"type": "string"}, "combine": {"type": "string"}}},
        "quantity": {"type": "string"},
        "theory": {"type": "object", "required": ["status", "summary", "source", "numbers"],
                   "properties": {"status": {"enum": ["proved", "consistent", "contradicts", "no prediction",
                                                        "not applicable"]},
                                  "summary": {"type": "string"}, "source": {"type": "string"},
                                  "numbers": {"type": "object"}}},
        "decided_by": {"type": "string"},
        "pending": _STRINGS, "stronger_than_checked": {"type": "string"}, "would_change": {"type": "string"},
        "cases": {"type": "array", "items": {"type": "object", "required": ["setting", "interval", "verdict"],
                                             "properties": {"setting": {"type": "object"}, "interval": _INTERVAL,
                                                            "verdict": {"enum": list(VERDICTS)}}}},
        "notes": _STRINGS,
        "experiments": {"type": "array", "items": {"type": "object", "required": ["key", "label", "kind", "settings"],
                                                   "properties": {"key": {"type": "string"}, "label": {"type": "string"},
                                                                  "kind": {"enum": list(KINDS)},
                                                                  "settings": {"type": "object"}}}},
    },
}
VERDICTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "stablesam verify: verdicts",
    "type": "object",
    "required": ["schema_version", "scale", "settings", "claims", "provenance"],
    "properties": {
        "schema_version": {"const": 3},
        "scale": {"enum": list(SCALES)},
        "settings": {"type": "object"},
        "claims": {"type": "array", "items": _CLAIM},
        "provenance": {"type": "object",
                       "required": ["commit", "dirty", "command", "python", "packages", "device", "torch_threads",
                                    "seeds", "wall_seconds", "created"],
                       "properties": {"commit": {"type": ["string", "null"]}, "dirty": {"type": ["boolean", "null"]},
                                      "packages": {"type": "object"}, "device": {"type": "string"},
                                      "torch_threads": {"type": "integer"}, "seeds": {"type": "object"},
                                      "wall_seconds": {"type": "number"}}},
    },
}

def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as plain Python, tuples as lists and non-finite floats as ``None``."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------


def read_verdict_guide() -> str:
    """How to read a verdict (the paragraph under the table of every report, and the README's)."""
    return ("Each claim is decided by a rule fixed in code before anything runs: a per-seed effect, the boundary "
            "its median must clear and an exact 95% sign-test interval over seeds (valid for any distribution of "
            "the seeds; coverage measured by simulation in the tests). Claims decided over several cases correct "
            "for multiplicity with Holm's method. Stability is the cross-fitted estimate, which must clear its "
            "sign-flip noise floor; a case whose runs failed (diverged or never trained) in most seeds is not "
            "comparable. A case's interval is its own 95% interval; its verdict is after Holm's correction, so in a "
            "family a case whose interval clears the boundary can stay inconclusive. **supported**: the whole interval clears the "
            "boundary in the claimed direction; **not supported**: the whole interval lies on the other side (the "
            "effect is reversed, or a deficit exceeds the allowed margin); **inconclusive**: the interval straddles "
            "the boundary, or too few seeds ran. The experiments decide; each claim's theory check (proved, "
            "consistent, contradicts, no prediction) is reported beside its verdict, and a disagreement is noted. "
            "A verdict covers only the settings listed; 'pending' names evidence the toolkit does not have yet.")


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _fmt_interval(interval: dict[str, Any] | None) -> str:
    if not interval or interval.get("estimate") is None:
        return "n/a"
    if interval.get("low") is None or interval.get("high") is None:
        return f"{_fmt(interval['estimate'])} (no interval, n={interval['n']})"
    return f"{_fmt(interval['estimate'])} [{_fmt(interval['low'])}, {_fmt(interval['high'])}]"


def _fmt_setting(setting: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in setting.items())


def verdict_table(document: dict[str, Any]) -> list[dict[str, str]]:
    """One row per claim: id, title, verdict and its plain one-line reading."""
    return [{"claim": c["id"], "title": c["title"], "verdict": c["verdict"], "reading": c["reading"]}
            for c in document["claims"]]


def key_table(document: dict[str, Any]) -> list[dict[str, str]]:
    """One row per claim: its key number with its interval and the theory's status."""
    return [{"claim": c["id"], "key number [95% CI]": f"{c['key']['label']}: {_fmt_interval(c['key']['interval'])}",
             "theory": c["theory"]["status"]} for c in document["claims"]]


_EXTRA_SKIP = {"setting", "interval", "verdict", "ratios", "values"}


def report_blocks(document: dict[str, Any]) -> list[tuple[str, Any]]:
    """The report as blocks: ``("h1"|"h2"|"h3"|"p"|"quote"|"list"|"table"|"figure", content)``."""
    prov = document["provenance"]
    commit = (prov["commit"] or "unknown")[:12] + (" (uncommitted changes)" if prov.get("dirty") else "")
    if prov.get("commit_note"):  # why the commit is unknown
        commit += f" ({prov['commit_note']})"
    cores = "" if prov.get("cpu_cores") is None else f" on {prov['cpu_cores']} CPU cores"
    blocks: list[tuple[str, Any]] = [
        ("h1", f"StableSAM claims: verification report ({document['scale']})"),
        ("p", f"Commit {commit}; device {prov['device']}; {prov['torch_threads']} torch thread(s) per process{cores}; "
              f"wall time {prov['wall_seconds']:.0f} s; created {prov['created']}."),
        ("table", verdict_table(document)),
        ("p", read_verdict_guide()),
        ("table", key_table(document)),
    ]
    for claim in document["claims"]:
        blocks += [
            ("h2", f"{claim['id']}: {claim['title']} - {claim['verdict']}"),
            ("quote", f"{claim['statement']} (source: {claim['source']})"),
            ("p", f"Verdict: **{claim['verdict']}**: {claim['reading']}. Key number, {claim['key']['label']}: "
                  f"{_fmt_interval(claim['key']['interval'])}."),
            ("figure", claim["id"]),
            ("list", [f"Decision rule: {claim['rule']['text']}. Cases combine as: {claim['rule']['combine']}.",
                      f"Quantity: {claim['quantity']}.",
                      f"Theory ({claim['theory']['status']}): {claim['theory']['summary']}"
                      + (f" [{claim['theory']['source']}]" if claim["theory"]["source"] else ""),
                      f"How theory and experiment combine: {claim['decided_by']}",
                      f"Where the paper claims more than is checked: {claim['stronger_than_checked']}",
                      f"What would change the verdict: {claim['would_change']}"]
             + [f"Pending: {p}" for p in claim["pending"]] + [f"Note: {n}" for n in claim["notes"]]),
        ]
        rows = []
        for case in claim["cases"]:
            extra = {k: v for k, v in case.items() if k not in _EXTRA_SKIP}
            rows.append({"setting": _fmt_setting(case["setting"]), "estimate [95% CI]": _fmt_interval(case["interval"]),
                         "verdict": case["verdict"], "details": "; ".join(
                             f"{k}={_fmt_interval(v) if isinstance(v, dict) and 'estimate' in v else _fmt(v)}"
                             for k, v in extra.items())})
        if rows:
            blocks += [("h3", "Cases"), ("table", rows)]
        blocks += [("h3", "Experiments run"),
                   ("list", [f"{e['label']} ({e['key']})" for e in claim["experiments"]] or ["none"])]
    blocks += [("h2", "Settings"), ("list", [f"{k}: {_fmt(v)}" for k, v in document["settings"].items()]),
               ("h2", "Provenance"),
               ("list", [f"{k}: {_fmt(v)}" for k, v in prov.items()])]
    return blocks


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(document: dict[str, Any], figure_dir: str = "figures") -> str:
    """``report.md``: figures referenced as ``figure_dir/<claim>.png``."""
    out = []
    for kind, content in report_blocks(document):
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + content)
        elif kind == "p":
            out.append(content)
        elif kind == "quote":
            out.append("> " + content)
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in content))
        elif kind == "table":
            columns = list(content[0]) if content else []
            lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(_md_cell(row[c]) for c in columns) + " |" for row in content]
            out.append("\n".join(lines))
        elif kind == "figure":
            out.append(f"![{content}]({figure_dir}/{content}.png)")
        out.append("")
    return "\n".join(out)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
        "table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .4rem;"
        "text-align:left;vertical-align:top}blockquote{color:#444;border-left:3px solid #ccc;margin:0;padding-left:1rem}"
        "img{max-width:100%}.supported{color:#009E73;font-weight:bold}.not-supported{color:#D55E00;font-weight:bold}"
        ".inconclusive{color:#555;font-weight:bold}")


def _inline(text: str) -> str:
    escaped = html.escape(str(text))
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    for verdict in VERDICTS:
        escaped = escaped.replace(f"<strong>{verdict}</strong>",
                                  f'<strong class="{verdict.replace(" ", "-")}">{verdict}</strong>')
    return escaped


def render_html(document: dict[str, Any], figures: dict[str, bytes]) -> str:
    """Self-contained ``report.html``: ``figures`` maps a claim id to its PNG bytes (embedded as base64)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>StableSAM verification ({html.escape(document['scale'])})</title><style>{_CSS}</style></head><body>"]
    for kind, content in report_blocks(document):
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{_inline(content)}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{_inline(content)}</p>")
        elif kind == "quote":
            out.append(f"<blockquote>{_inline(content)}</blockquote>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in content) + "</ul>")
        elif kind == "table" and content:
            columns = list(content[0])
            head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
            body = "".join("<tr>" + "".join(
                f'<td class="{html.escape(str(row[c]).replace(" ", "-"))}">{html.escape(str(row[c]))}</td>'
                if c == "verdict" else f"<td>{html.escape(str(row[c]))}</td>" for c in columns) + "</tr>"
                for row in content)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "figure" and content in figures:
            data = base64.b64encode(figures[content]).decode("ascii")
            out.append(f'<img alt="figure of {html.escape(content)}" src="data:image/png;base64,{data}">')
    out.append("</body></html>")
    return "\n".join(out)


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    return buffer.getvalue()


def write_report(out_dir: str | Path | Store, document: dict[str, Any],
                 figure_data: dict[str, dict[str, Any]]) -> dict[str, Path]:
    """Validate ``document`` and write ``verdicts.json``, ``figures/<claim>.png``, ``report.md`` and ``report.html``.

    ``out_dir``: the directory, or the verified store (:class:`~stablesam.core.store.Store`) of it the caller holds
    the lock of; every file is a store entry (written atomically, its checksum recorded in ``checksums.json``
    before it appears). ``figure_data`` maps a claim id to its evaluation's figure data
    (:class:`stablesam.analysis.verify.claims.ClaimResult`). Returns the paths written. A document that violates
    the schema raises ``ValueError`` before any write.
    """
    import matplotlib.pyplot as plt

    from stablesam.analysis.plots.style import figure_style
    from stablesam.analysis.verify.claims import CLAIMS

    document = jsonable(document)
    errors = schema_errors(document, VERDICTS_SCHEMA)
    if errors:
        raise ValueError(f"the verdicts document violates its schema: {errors[0]} ({len(errors)} error(s))")
    store = out_dir if isinstance(out_dir, Store) else Store(out_dir, what="stablesam verify")
    figures = {}
    for claim in document["claims"]:
        with figure_style():  # the whole figure drawn and saved in the toolkit's style
            figure = CLAIMS[claim["id"]].plot(claim, jsonable(figure_data.get(claim["id"], {})))
        try:
            with figure_style():
                figures[claim["id"]] = _png(figure)
        finally:
            plt.close(figure)
    names = {"verdicts": "verdicts.json", "markdown": "report.md", "html": "report.html"}
    for claim_id, png in figures.items():
        store.put_bytes(f"figures/{claim_id}.png", png)
    store.put_json(names["verdicts"], document)
    store.put_text(names["markdown"], render_markdown(document))
    store.put_text(names["html"], render_html(document, figures))
    return {key: store.path(name) for key, name in names.items()}

"""Regenerating the figure set: a catalogue of figure specifications and a deterministic writer.

Every figure of ``figures/`` is a :class:`FigureSpec`: a name, a caption, the parameters it is drawn
with (a full and a quick setting) and the ``plot_*`` function that draws it, the same function the
notebooks call. :func:`write_figures` renders each one as PNG and PDF (atomically) and writes a
``manifest.json`` listing, for each figure, the files, the command and parameters that made it, and a
SHA-256 digest of the data drawn on its axes, so a rerun can be checked to draw the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from stablesam.analysis.figures.catalog import FIGURES
from stablesam.analysis.figures.spec import FigureSpec
from stablesam.core.io import atomic_path, atomic_write_json
from stablesam.core.lock import DirectoryLock
from stablesam.core.progress import progress_mode
from stablesam.core.store import Store
from stablesam.core.validation import UsageError

__all__ = ["FigureSpec", "catalog", "figure_data_digest", "write_figures"]


def _merged_entries(path: Path, new: list[dict], order: list[str], quick: bool) -> list[dict]:
    """``new`` entries replacing those of the same name in the manifest at ``path`` (if it is one of the same
    ``quick`` setting), the others kept; catalogue order."""
    import json

    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        previous = {}
    kept = previous.get("figures", []) if isinstance(previous, dict) and previous.get("quick") == quick else []
    by_name = {e["name"]: e for e in kept if isinstance(e, dict) and e.get("name") in order}
    by_name.update({e["name"]: e for e in new})
    return [by_name[name] for name in order if name in by_name]


def catalog() -> list[FigureSpec]:
    """Every figure the toolkit regenerates, in the order of the manifest."""
    return list(FIGURES)


def _artist_arrays(fig) -> Iterable[np.ndarray]:
    for ax in fig.axes:
        for line in ax.lines:
            yield np.asarray(line.get_xydata(), dtype=np.float64)
        for collection in ax.collections:
            yield np.asarray(collection.get_offsets(), dtype=np.float64)
            array = collection.get_array()
            if array is not None:
                yield np.ma.filled(np.asarray(array, dtype=np.float64), np.nan)
            for path in collection.get_paths():
                yield np.asarray(path.vertices, dtype=np.float64)
        for image in ax.images:
            yield np.ma.filled(np.asarray(image.get_array(), dtype=np.float64), np.nan)
        for patch in ax.patches:
            yield np.asarray(patch.get_path().vertices, dtype=np.float64)


def figure_data_digest(fig) -> str:
    """SHA-256 of the numbers drawn on ``fig`` (lines, scatter offsets, meshes, images, patches)."""
    digest = hashlib.sha256()
    for array in _artist_arrays(fig):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@contextmanager
def _quiet_font_subsetting():
    """Silence fontTools' warnings while a PDF embeds its fonts: matplotlib's bundled Computer Modern fonts
    (``cm*.ttf``, used by mathtext) carry header timestamps so low that fontTools warns each time it reads
    one; the warning says nothing about the figure."""
    logger = logging.getLogger("fontTools")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def write_figures(
    out_dir: str | os.PathLike[str],
    *,
    quick: bool = False,
    names: Sequence[str] | None = None,
    formats: Sequence[str] = ("png", "pdf"),
    progress: bool | None = None,
) -> dict[str, Any]:
    """Render the catalogue (or the figures in ``names``) into ``out_dir``; return the manifest.

    With ``names``, the other figures' entries of an existing ``manifest.json`` of the same ``quick`` setting are
    kept (in catalogue order), so regenerating one figure does not drop the others from the manifest.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from tqdm.auto import tqdm

    from stablesam.analysis.plots.style import figure_style

    specs = catalog()
    known = [s.name for s in specs]
    if names:
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise UsageError(f"unknown figure name(s) {', '.join(unknown)}; known: {', '.join(known)}")
        specs = [s for s in specs if s.name in set(names)]
    out = Path(out_dir)
    with DirectoryLock(out, what="stablesam figures"):  # one writer: two would interleave the manifest
        Store(out).remove_temporaries()  # the temporary files of writes a kill cut short (.C7.png.XXXXXXXX.png)
        entries = []
        mode = progress_mode(progress)
        for spec in tqdm(specs, desc="figures", unit="fig", disable=not mode.bar):
            params = spec.parameters(quick)
            with figure_style():
                fig = spec.resolve()(**params)
                digest = figure_data_digest(fig)
                files = []
                for fmt in formats:
                    target = out / f"{spec.name}.{fmt}"
                    with atomic_path(target) as tmp, _quiet_font_subsetting():
                        # Fixed metadata: no timestamps, so reruns write the same bytes where the backend allows.
                        metadata = ({"CreationDate": None} if fmt == "pdf" else {"Software": None} if fmt == "png"
                                    else None)
                        fig.savefig(tmp, format=fmt, metadata=metadata)
                    files.append(target.name)
                plt.close(fig)
            command = f"stablesam figures --only {spec.name}" + (" --quick" if quick else "")
            entries.append(
                {
                    "name": spec.name,
                    "caption": spec.caption,
                    "files": files,
                    "function": spec.function,
                    "parameters": params,
                    "command": command,
                    "data_sha256": digest,
                }
            )
            mode.line(f"figures: {spec.name} ({len(entries)}/{len(specs)})")
        if names:
            entries = _merged_entries(out / "manifest.json", entries, known, quick)
        manifest = {
            "quick": quick,
            "command": "stablesam figures " + shlex.join(["--out", str(out_dir)] + (["--quick"] if quick else [])),
            "figures": entries,
        }
        atomic_write_json(out / "manifest.json", manifest)
        return manifest

"""The figures command: every manifest entry is written, the data digest is deterministic."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from stablesam.analysis.figures.writer import catalog, figure_data_digest, write_figures
from stablesam.analysis.plots.style import figure_style
from stablesam.cli import main
from tests._text_overlap import overlapping_texts


def _figure(values):
    fig, ax = plt.subplots()
    ax.plot(np.arange(len(values)), values)
    ax.scatter([0.5], [values[0]])
    return fig


def test_digest_is_deterministic_and_sensitive_to_the_data():
    a, b, c = _figure([1.0, 2.0, 3.0]), _figure([1.0, 2.0, 3.0]), _figure([1.0, 2.0, 3.0 + 1e-12])
    assert figure_data_digest(a) == figure_data_digest(b)
    assert figure_data_digest(a) != figure_data_digest(c)
    plt.close("all")


def test_catalog_names_are_unique_and_resolve():
    names = [spec.name for spec in catalog()]
    assert len(names) == len(set(names))
    for spec in catalog():
        assert callable(spec.resolve())


@pytest.fixture(scope="module")
def quick_figures(tmp_path_factory):
    """``stablesam figures --quick`` run once for the module: (output directory, manifest)."""
    out = tmp_path_factory.mktemp("figures")
    assert main(["figures", "--out", str(out), "--quick"]) == 0
    return out, json.loads((out / "manifest.json").read_text())


def test_figures_command_writes_every_manifest_file(quick_figures):
    out, manifest = quick_figures
    assert [entry["name"] for entry in manifest["figures"]] == [spec.name for spec in catalog()]
    for entry in manifest["figures"]:
        assert entry["files"] == [f"{entry['name']}.png", f"{entry['name']}.pdf"]
        for name in entry["files"]:
            stat = (out / name).stat()
            assert stat.st_size > 0 and stat.st_mode & 0o044, f"{name} is not readable by group and others"


def test_write_figures_digest_only(tmp_path):
    manifest = write_figures(tmp_path, quick=True, names=["max-stable-lr"], formats=())
    assert manifest["figures"][0]["files"] == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        ".lock", "manifest.json"]  # the writer's lock file stays, as in every run directory


def test_a_second_writer_gets_one_line_and_exit_2(tmp_path, capsys):
    from stablesam.core.lock import DirectoryLock

    with DirectoryLock(tmp_path, what="stablesam figures"):
        assert main(["figures", "--out", str(tmp_path), "--only", "max-stable-lr", "--quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use by another stablesam figures" in err[0], err
    assert not (tmp_path / "manifest.json").exists() and not (tmp_path / "max-stable-lr.png").exists()


def test_unknown_figure_name_is_a_usage_error(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path / "out"), "--only", "no-such-figure"]) == 2
    err = capsys.readouterr().err
    assert "no-such-figure" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("spec", catalog(), ids=lambda s: s.name)
def test_every_catalogued_figure_has_labelled_axes_legible_text_and_redraws_the_same_data(spec, quick_figures):
    with figure_style():
        fig = spec.resolve()(**spec.parameters(quick=True))
    (entry,) = [e for e in quick_figures[1]["figures"] if e["name"] == spec.name]
    assert figure_data_digest(fig) == entry["data_sha256"], f"{spec.name}: a rerun draws different data"
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
    assert visible, f"{spec.name} draws nothing"
    for ax in visible:
        # A panel sharing an axis with its row or column may leave the label to a sibling.
        xlabels = [a.get_xlabel() for a in ax.get_shared_x_axes().get_siblings(ax)]
        ylabels = [a.get_ylabel() for a in ax.get_shared_y_axes().get_siblings(ax)]
        assert any(xlabels) and any(ylabels), f"{spec.name}: unlabelled axes {ax.get_title()!r}"
    # No two drawn texts (titles, labels, ticks, legends, notes) overlap (tests/_text_overlap.py).
    assert not overlapping_texts(fig), f"{spec.name}: overlapping text {overlapping_texts(fig)}"
    plt.close(fig)


def test_regenerating_one_figure_keeps_the_others_in_the_manifest(tmp_path):
    first = write_figures(tmp_path, quick=True, names=["max-stable-lr", "quadratic-sam-cycle"], formats=())
    again = write_figures(tmp_path, quick=True, names=["quadratic-sam-cycle"], formats=())
    assert [e["name"] for e in again["figures"]] == [e["name"] for e in first["figures"]]
    assert json.loads((tmp_path / "manifest.json").read_text())["figures"] == first["figures"]
    full = write_figures(tmp_path, quick=False, names=["max-stable-lr"], formats=())  # another setting: not mixed
    assert [e["name"] for e in full["figures"]] == ["max-stable-lr"]

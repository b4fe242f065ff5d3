"""The figures command: every manifest entry is written, the data digest is deterministic."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis.figures import catalog, figure_data_digest, write_figures
from stablesam.cli import main


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


def test_figures_command_writes_every_manifest_file_and_reruns_identically(tmp_path):
    assert main(["figures", "--out", str(tmp_path), "--quick"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [entry["name"] for entry in manifest["figures"]] == [spec.name for spec in catalog()]
    for entry in manifest["figures"]:
        assert entry["files"] == [f"{entry['name']}.png", f"{entry['name']}.pdf"]
        for name in entry["files"]:
            assert (tmp_path / name).stat().st_size > 0
    rerun = write_figures(tmp_path / "again", quick=True)
    assert [e["data_sha256"] for e in rerun["figures"]] == [e["data_sha256"] for e in manifest["figures"]]


def test_unknown_figure_name_is_a_usage_error(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path / "out"), "--only", "no-such-figure"]) == 2
    err = capsys.readouterr().err
    assert "no-such-figure" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("spec", catalog(), ids=lambda s: s.name)
def test_every_catalogued_figure_has_labelled_axes(spec):
    fig = spec.resolve()(**spec.parameters(quick=True))
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
    assert visible, f"{spec.name} draws nothing"
    for ax in visible:
        assert ax.get_xlabel() and ax.get_ylabel(), f"{spec.name}: unlabelled axes"
    plt.close(fig)

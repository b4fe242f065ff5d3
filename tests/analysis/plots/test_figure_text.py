"""Figures a reader can read: no two drawn texts overlap, in the layouts that once collided (issue 26).

The catalogue's figures are checked at their quick settings in tests/analysis/figures/test_figures.py; the layouts below need a
state the quick settings do not reach (a run that diverges, five methods side by side), built as tidy tables.
"""

import matplotlib.pyplot as plt
import pandas as pd

from stablesam.analysis.plots.edge_of_stability import plot_edge_of_stability
from stablesam.analysis.plots.style import figure_style
from tests._text_overlap import overlapping_texts


def _edge_table(diverging=("usam",), steps=range(0, 1001, 20)):
    rows = []
    for run, optimizer in enumerate(("gd", "sam", "usam", "stablesam-u", "stablesam-n")):
        rho = 0.0 if optimizer == "gd" else 0.05
        for step in steps:
            diverged = optimizer in diverging and step >= 20
            values = {"sharpness": 20.0 + step / 100, "edge": 20.0, "sharpness_ratio": 1.0 + step / 2000}
            if optimizer in diverging:
                values["diverged"] = float(diverged)
            if diverged and step > 20:
                break
            rows += [dict(run=f"{optimizer}-{run}", seed=0, optimizer=optimizer, rho=rho, lr=0.1, step=step,
                          metric=metric, value=value) for metric, value in values.items()]
    return pd.DataFrame(rows)


def test_the_diverged_label_stays_inside_its_panel():
    """The full figure's layout: five methods, USAM diverged by step 20 (its label ran into the SAM panel)."""
    with figure_style():
        fig = plot_edge_of_stability(_edge_table())
        notes = [text for ax in fig.axes for text in ax.texts if "diverged" in text.get_text()]
        assert len(notes) == 1
        assert not overlapping_texts(fig), overlapping_texts(fig)
        fig.canvas.draw()
        note, panel = notes[0].get_window_extent(), notes[0].axes.get_window_extent()
        assert panel.x0 <= note.x0 and note.x1 <= panel.x1
    plt.close(fig)


def test_the_overlap_check_finds_a_collision():
    """The check itself: two labels placed on one spot are reported, a lone one is not."""
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "one label", transform=ax.transAxes)
    assert not overlapping_texts(fig)
    ax.text(0.52, 0.5, "another label", transform=ax.transAxes)
    assert overlapping_texts(fig) == [("one label", "another label")]
    plt.close(fig)

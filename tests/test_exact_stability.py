"""The exact-stability figure and table on standardised digits (small settings)."""

import matplotlib.pyplot as plt
import numpy as np

from analysis.exact_stability import digits_twins, exact_stability_table, plot_exact_stability


def test_digits_twins_differ_in_exactly_one_example():
    X, y, X2, y2 = digits_twins(replaced_index=3, n=100)
    assert X.shape == (100, 65) and np.all(X[:, -1] == 1.0)
    differ = np.flatnonzero(np.any(X != X2, axis=1) | (y != y2))
    assert differ.tolist() == [3]


def test_table_is_tidy_and_brackets_are_ordered():
    table = exact_stability_table(np.array([1e-5, 1e-4]), methods=(("sgd", 0.0), ("usam", 0.01)), steps=5, n=200)
    assert set(table.columns) == {"method", "rho", "lr", "step", "metric", "value"}
    wide = table[table["metric"] != "hrs_bound"].pivot_table(index=["method", "rho", "lr"], columns="metric", values="value")
    assert np.all(wide["mean_difference_norm"] <= wide["rms_distance"] * (1 + 1e-12))


def test_figure():
    fig = plot_exact_stability(num=3, steps=5, n=200)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and "learning rate" in ax.get_xlabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("derived" in text for text in legend) and any("Hardt" in text for text in legend)
    plt.close(fig)

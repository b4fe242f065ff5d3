"""The exact-stability figure and table on standardised digits (small settings)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from stablesam.analysis.experiments.exact_stability import digits_twins, exact_stability_table, plot_exact_stability


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
    fig = plot_exact_stability(num=3, steps=5, n=200, mc_lrs=(1e-4,), pairs=20)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and "learning rate" in ax.get_xlabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("derived" in text for text in legend) and any("Hardt" in text for text in legend)
    plt.close(fig)


def test_monte_carlo_agrees_with_the_exact_value_at_batch_size_one():
    # Batch size 1 is the exact recursion's setting: the 99% CI of the mean of ||delta||^2 must cover it; here we
    # check E||delta|| against the exact bracket [||E delta||, sqrt(E||delta||^2)] widened by the CI.
    from stablesam.analysis.experiments.exact_stability import monte_carlo_twin_distance
    from stablesam.theory.twin_moments import expected_twin_distance

    X, y, X2, y2 = digits_twins(n=60)
    exact = expected_twin_distance(X, y, X2, y2, 1e-4, method="usam", rho=0.01, steps=60)
    mean, half = monte_carlo_twin_distance(X, y, X2, y2, 1e-4, method="usam", rho=0.01, steps=60, batch_size=1, pairs=400,
                                           generator=np.random.default_rng(0))
    assert exact.mean_difference_norm[-1] - half <= mean <= exact.rms[-1] + half
    # StableSAM-U with one example per step is SGD, path by path (same generator, same draws).
    sgd = monte_carlo_twin_distance(X, y, X2, y2, 1e-4, method="sgd", rho=0.0, steps=30, batch_size=1, pairs=50, generator=np.random.default_rng(1))
    stable = monte_carlo_twin_distance(X, y, X2, y2, 1e-4, method="stablesam-u", rho=0.3, steps=30, batch_size=1, pairs=50, generator=np.random.default_rng(1))
    assert stable == pytest.approx(sgd, rel=1e-9)

"""stablesam.analysis.plots.twin: tidy twin metrics in, labelled panels out; a tiny real run feeds the plot."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from stablesam.analysis.plots.twin import plot_twin_metrics
from stablesam.analysis.experiments.twin_experiments import twin_metrics


def _tidy():
    rows = []
    for optimizer in ("sgd", "stablesam-u"):
        for noise in (0.0, 0.3):
            for pair in (0, 1):
                for epoch in (1, 2, 3):
                    rows.append(dict(optimizer=optimizer, label_noise=noise, pair=pair, twin="pair", layer="",
                                     epoch=epoch, metric="distance", value=0.01 * epoch * (1 + pair)))
                    rows.append(dict(optimizer=optimizer, label_noise=noise, pair=pair, twin="S", layer="",
                                     epoch=epoch, metric="gen_gap", value=np.inf if epoch == 3 else 0.1))
    return pd.DataFrame(rows)


def test_panels_are_labelled_with_one_line_per_method_and_noise():
    fig = plot_twin_metrics(_tidy(), metrics_to_plot=("distance", "gen_gap"))
    distance, gap = [ax for ax in fig.axes if ax.get_visible()]
    assert distance.get_yscale() == "log" and distance.get_ylabel() == r"$\|w_t - w'_t\|$"
    assert gap.get_ylabel() == r"test $-$ train loss" and distance.get_xlabel() == "epoch"
    assert gap.get_title() == "gap, labels trained on"  # some runs train on noisy labels
    lines = [ln for ln in distance.get_lines() if len(ln.get_xdata()) == 3]
    assert len(lines) == 4 and {ln.get_linestyle() for ln in lines} == {"-", "--"}
    # Mean over the two pairs: 0.01 e (1 + 2) / 2.
    np.testing.assert_allclose(lines[0].get_ydata(), 0.015 * np.arange(1, 4))
    # The non-finite epoch (a diverged twin) is left out, not drawn as inf.
    assert sum(list(ln.get_xdata()) == [1, 2] for ln in gap.get_lines()) == 4
    assert not any(3 in list(ln.get_xdata()) for ln in gap.get_lines())
    plt.close(fig)


def test_twin_metrics_runs_every_optimizer(tmp_path):
    metrics = twin_metrics(("sgd", "stablesam-u"), epochs=1, n_train=40, n_test=20, replaced_indices=(0,),
                           batch_size=20, out_dir=tmp_path)
    assert set(metrics["optimizer"]) == {"sgd", "stablesam-u"}
    assert {"distance", "gen_gap", "loss_diff_max"} <= set(metrics["metric"])
    assert "gamma_mean" in set(metrics.loc[metrics["optimizer"] == "stablesam-u", "metric"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sgd_noise0", "stablesam-u_noise0"]


def test_line_style_can_follow_the_learning_rate_and_the_legend_names_it():
    frame = _tidy().rename(columns={"label_noise": "lr"})
    fig = plot_twin_metrics(frame, metrics_to_plot=("distance",), linestyle_by="lr")
    (distance,) = [ax for ax in fig.axes if ax.get_visible()]
    labels = {ln.get_label() for ln in distance.get_lines()}
    assert {r"SGD, $\eta$ = 0", r"SGD, $\eta$ = 0.3"} <= labels
    plt.close(fig)


def test_unknown_line_style_column_is_refused():
    with pytest.raises(ValueError, match="linestyle_by must be one of .*; got 'seed'"):
        plot_twin_metrics(_tidy(), linestyle_by="seed")


def test_without_label_noise_the_gap_is_not_called_noisy():
    clean = _tidy()
    clean = clean[clean["label_noise"] == 0]
    fig = plot_twin_metrics(clean, metrics_to_plot=("distance", "gen_gap"))
    distance, gap = [ax for ax in fig.axes if ax.get_visible()]
    assert gap.get_title() == "generalization gap"
    assert "noisy" not in gap.get_title() and "trained on" not in gap.get_title()
    plt.close(fig)

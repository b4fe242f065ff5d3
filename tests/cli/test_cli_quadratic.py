"""CLI: ``stablesam lr-max``, ``stablesam edge``, ``stablesam quadratic`` (JSON keys, values, bad input)."""

import json
import math

import pytest

from stablesam.cli import main


def _json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return json.loads(out[0])


def test_lr_max_values(capsys):
    # USAM (Agarwala & Dauphin 2023): 2/(lambda (1 + rho lambda)) = 2/(10 * 1.5).
    assert _json(capsys, ["lr-max", "--method", "usam", "--sharpness", "10", "--rho", "0.05"])["max_stable_lr"] == pytest.approx(2 / 15)
    # SAM (Long & Bartlett 2023) at ||g|| = 0.5: 2/(10 (1 + 1)) = 0.1.
    out = _json(capsys, ["lr-max", "--method", "sam", "--sharpness", "10", "--rho", "0.05", "--grad-norm", "0.5"])
    assert out["max_stable_lr"] == pytest.approx(0.1)
    assert _json(capsys, ["lr-max", "--method", "stablesam-n", "--sharpness", "4", "--rho", "0.5"])["max_stable_lr"] == 0.5


def test_edge_values(capsys):
    out = _json(capsys, ["edge", "--method", "usam", "--lr", "0.1", "--rho", "0.05"])
    assert out["sharpness_max"] == pytest.approx(10 * (math.sqrt(5) - 1))
    out = _json(capsys, ["edge", "--method", "sam", "--lr", "0.1", "--rho", "0.05", "--grad-norm", "0.5"])
    assert out["sharpness_max"] == pytest.approx(10.0)
    assert _json(capsys, ["edge", "--method", "gd", "--lr", "0.25"])["sharpness_max"] == 8.0


def test_quadratic_sam_with_lr(capsys):
    out = _json(capsys, ["quadratic", "--eigenvalues", "4,1,0.25", "--method", "sam", "--rho", "0.1", "--lr", "0.3",
                         "--steps", "1500"])
    assert out["max_stable_lr"] == 0.5
    assert 0.5 <= out["observed_max_stable_lr"] <= 0.5 * (1 + math.log(1e8) / 1500)
    assert out["diverged"] is False and out["rate"] == pytest.approx(1.0, abs=1e-9)
    # c = eta rho lambda/(2 - eta lambda) = 0.3 * 0.1 * 4/0.8 = 0.15.
    assert out["cycle_amplitude"] == pytest.approx(0.15, rel=1e-9)
    assert out["predicted_cycle_amplitude"] == pytest.approx(0.15, rel=1e-12)


def test_quadratic_table_and_divergence(capsys):
    assert main(["quadratic", "--eigenvalues", "2,1", "--method", "gd", "--lr", "1.5", "--steps", "500"]) == 0
    text = capsys.readouterr().out
    assert "max_stable_lr: 1" in text and "diverged: True" in text
    out = _json(capsys, ["quadratic", "--eigenvalues", "2,1", "--method", "stablesam-u", "--rho", "0.5", "--lr", "0.6",
                         "--start=-1,1", "--steps", "1000"])
    assert out["rate"] == pytest.approx(5 / 11, rel=1e-3)  # bouncing factor (p1 - p2)/(p1 + p2)
    assert "cycle_amplitude" not in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["lr-max", "--method", "sam", "--sharpness", "1", "--rho", "0.1"], "needs grad_norm"),
        (["lr-max", "--method", "gd", "--sharpness", "0"], "sharpness must be finite and > 0"),
        (["lr-max", "--method", "usam", "--sharpness", "1", "--rho", "-0.1"], "rho must be finite and >= 0"),
        (["edge", "--method", "gd", "--lr", "0"], "lr must be finite and > 0"),
        (["edge", "--method", "gd", "--lr", "-1"], "lr must be finite and > 0"),
        (["quadratic", "--eigenvalues", "1,-2", "--method", "gd"], "must all be > 0"),
        (["quadratic", "--eigenvalues", "1,0", "--method", "gd"], "must all be > 0"),
        (["quadratic", "--eigenvalues", "1,,2", "--method", "gd"], "comma-separated"),
        (["quadratic", "--eigenvalues", "1,2", "--method", "gd", "--rho", "-1"], "--rho must be >= 0"),
        (["quadratic", "--eigenvalues", "1,2", "--method", "gd", "--lr", "0"], "--lr must be > 0"),
        (["quadratic", "--eigenvalues", "1,2", "--method", "gd", "--start", "1"], "--start must have 2 entries"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_unknown_method_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["lr-max", "--method", "adam", "--sharpness", "1"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_diverging_sam_has_no_cycle(capsys):
    # Regression (issue 14, defect 6): at eta lambda = 2 SAM's ||w_t|| grows linearly (|x_t| = |x_0| + 2 rho t,
    # theory/thresholds.py); main printed cycle_amplitude 201 next to predicted_diverged: true.
    result = _json(capsys, ["quadratic", "--eigenvalues", "10", "--method", "sam", "--rho", "0.05", "--lr", "0.2"])
    assert result["predicted_diverged"] is True
    assert result["cycle_amplitude"] is None and result["predicted_cycle_amplitude"] is None
    assert result["cycle_note"].startswith("no 2-cycle")


@pytest.mark.parametrize(
    ("argv", "derived", "source"),
    [
        (["lr-max", "--method", "usam", "--sharpness", "10", "--rho", "0.05"], False, "Agarwala and Dauphin 2023"),
        (["lr-max", "--method", "gd", "--sharpness", "10"], False, "classical"),
        (["edge", "--method", "sam", "--lr", "0.1", "--rho", "0.05", "--grad-norm", "1"], False, "Long and Bartlett 2023"),
        (["edge", "--method", "stablesam-n", "--lr", "0.1"], True, "derived (quadratic model)"),
        (["quadratic", "--eigenvalues", "10", "--method", "stablesam-u", "--steps", "50"], True, "derived (quadratic model)"),
        (["quadratic", "--eigenvalues", "10", "--method", "usam", "--rho", "0.1", "--steps", "50"], False, "Agarwala and Dauphin 2023"),
    ],
)
def test_json_says_whether_a_result_is_derived_and_its_source(capsys, argv, derived, source):
    # Issue 14, defect 8: lr-max, edge and quadratic carry `derived` and a source, as `bounds` does.
    result = _json(capsys, argv)
    assert result["derived"] is derived and result["source"].startswith(source)

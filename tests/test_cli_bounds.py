"""``stablesam bounds``, ``excess-risk`` and ``lr-max-bound``: JSON output agrees with the library, bad input exits 2."""

import json

import pytest

from stablesam.cli import main
from stablesam.theory.excess_risk import convex_sgd_optimal_lr
from stablesam.theory.uniform_stability import sgd_nonconvex, usam_convex

CONSTANTS = ["--L", "1", "--beta", "1", "--n", "100", "--T", "1000"]


def _json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    return json.loads(out)


def test_bounds_prints_eps_and_its_inputs(capsys):
    result = _json(capsys, ["bounds", "--setting", "convex", "--method", "usam", *CONSTANTS, "--lr", "0.1", "--rho", "0.05"])
    assert result["eps_stab"] == pytest.approx(usam_convex(0.1, L=1, beta=1, rho=0.05, n=100, T=1000), rel=1e-15)
    assert result["derived"] is True and result["inputs"]["rho"] == 0.05 and result["inputs"]["T"] == 1000
    result = _json(capsys, ["bounds", "--setting", "nonconvex", "--method", "sgd", *CONSTANTS, "--c", "0.5"])
    assert result["eps_stab"] == pytest.approx(sgd_nonconvex(0.5, L=1, beta=1, n=100, T=1000), rel=1e-15)
    assert "Thm 3.12" in result["source"] and result["derived"] is False


def test_bounds_schedule_and_stablesam_assumption(capsys):
    cosine = _json(capsys, ["bounds", "--setting", "convex", "--method", "sgd", *CONSTANTS, "--lr", "0.1", "--schedule", "cosine"])
    constant = _json(capsys, ["bounds", "--setting", "convex", "--method", "sgd", *CONSTANTS, "--lr", "0.1"])
    assert cosine["eps_stab"] == pytest.approx(constant["eps_stab"] / 2, rel=2e-3)  # cosine averages lr/2
    step = _json(
        capsys,
        ["bounds", "--setting", "convex", "--method", "sgd", *CONSTANTS, "--lr", "0.1", "--schedule", "step", "--decay-factor", "0.5", "--decay-every", "500"],
    )
    assert step["eps_stab"] == pytest.approx(constant["eps_stab"] * 0.75, rel=1e-12)  # half the steps at lr/2
    stable = _json(
        capsys,
        ["bounds", "--setting", "convex", "--method", "stablesam-u", *CONSTANTS, "--lr", "0.2", "--rho", "0.05", "--gamma", "0.96", "--assumption", "shared-gamma"],
    )
    assert stable["assumption"] == "shared-gamma" and "an assumption about the trajectory" in stable["assumption_detail"]
    assert stable["eps_stab"] == pytest.approx(usam_convex(0.96 * 0.2, L=1, beta=1, rho=0.05, n=100, T=1000), rel=1e-14)
    derived = _json(
        capsys,
        ["bounds", "--setting", "convex", "--method", "stablesam-u", *CONSTANTS, "--lr", "0.01", "--rho", "0.05", "--assumption", "lipschitz-step"],
    )
    assert derived["assumption"] == "lipschitz-step" and derived["derived"] is True
    for command in (["excess-risk", "--D", "1", "--T", "100"], ["lr-max-bound", "--setting", "convex", "--eps", "0.1", "--T", "100"]):
        out = _json(capsys, [*command[:1], "--method", "stablesam-u", "--L", "1", "--beta", "1", "--n", "100", *command[1:], "--rho", "0.05", "--assumption", "lipschitz-step"])
        assert out["assumption"] == "lipschitz-step" and "no assumption on gamma_t" in out["assumption_detail"]


def test_bounds_refuse_an_impossible_gamma(capsys):
    # Regression (issue 14, defect 2): gamma_t >= 1/(1 + rho beta) = 0.952 for a beta-smooth loss.
    code = main(["bounds", "--setting", "convex", "--method", "stablesam-u", *CONSTANTS, "--lr", "0.2", "--rho", "0.05", "--gamma", "0.5", "--assumption", "shared-gamma"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "allowed: gamma >= 0.952381" in err


def test_excess_risk_prints_terms_and_the_optimal_learning_rate(capsys):
    result = _json(capsys, ["excess-risk", "--method", "sgd", "--L", "1", "--beta", "1", "--D", "1", "--n", "100", "--T", "100", "--lr", "0.1"])
    assert (result["optimization"], result["generalization"], result["total"]) == pytest.approx((0.1, 0.2, 0.3))
    eta, value = convex_sgd_optimal_lr(L=1, D=1, n=100, T=100)
    assert result["closed_form_optimal_lr"] == pytest.approx(eta) and result["optimal_lr"] == pytest.approx(eta, rel=1e-5)
    assert result["optimal_total"] == pytest.approx(value, rel=1e-10)


def test_lr_max_bound(capsys):
    result = _json(capsys, ["lr-max-bound", "--setting", "convex", "--method", "sgd", "--L", "1", "--beta", "1", "--n", "100", "--T", "100", "--eps", "0.5"])
    assert result["max_lr"] == pytest.approx(0.25) and result["binding"] == "target" and result["max_nonexpansive_lr"] == 2.0
    result = _json(
        capsys,
        ["lr-max-bound", "--setting", "convex", "--method", "usam", "--L", "1", "--beta", "1", "--n", "100", "--T", "100", "--eps", "1e9", "--rho", "0.1", "--curvature", "quadratic"],
    )
    assert result["binding"] == "condition" and result["max_lr"] == 2.0
    assert result["max_nonexpansive_lr"] == pytest.approx(2 / 1.1)


def test_text_output_is_readable(capsys):
    assert main(["bounds", "--setting", "convex", "--method", "sgd", *CONSTANTS, "--lr", "0.1"]) == 0
    assert capsys.readouterr().out.startswith("eps_stab: 2\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bounds", "--setting", "convex", "--method", "sgd", "--L", "1", "--beta", "4", "--n", "10", "--T", "5", "--lr", "0.6"], "lr=0.6 violates eta <= 2/beta = 0.5 required by the convex theorem"),
        (["bounds", "--setting", "nonconvex", "--method", "sgd", "--L", "1", "--beta", "1", "--n", "1", "--T", "5", "--c", "1"], "n must be an integer >= 2"),
        (["bounds", "--setting", "convex", "--method", "sgd", "--L", "1", "--beta", "1", "--n", "1", "--T", "5", "--lr", "0.1"], "n must be an integer >= 2"),
        (["excess-risk", "--method", "sgd", "--L", "1", "--beta", "1", "--D", "1", "--n", "1", "--T", "5"], "n must be an integer >= 2"),
        (["bounds", "--setting", "convex", "--method", "sgd", "--L", "-1", "--beta", "1", "--n", "10", "--T", "5", "--lr", "0.1"], "L must be > 0"),
        (["bounds", "--setting", "strongly-convex", "--method", "sgd", "--L", "1", "--beta", "1", "--n", "10", "--T", "5", "--lr", "0.1"], "needs mu"),
        (["bounds", "--setting", "convex", "--method", "stablesam-n", "--L", "1", "--beta", "1", "--n", "10", "--T", "5", "--lr", "0.1"], "assumption"),
        (["bounds", "--setting", "nonconvex", "--method", "sgd", "--L", "1", "--beta", "1", "--n", "10", "--T", "5", "--lr", "0.1"], "takes --c"),
        (["excess-risk", "--method", "sgd", "--L", "1", "--beta", "1", "--D", "1", "--n", "10", "--T", "5", "--lr", "3"], "violates eta <= 2/beta"),
        (["lr-max-bound", "--setting", "convex", "--method", "sgd", "--L", "1", "--beta", "1", "--n", "10", "--T", "5", "--eps", "-1"], "eps must be > 0"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_unknown_method_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as error:
        main(["bounds", "--setting", "convex", "--method", "adam", *CONSTANTS, "--lr", "0.1"])
    assert error.value.code == 2

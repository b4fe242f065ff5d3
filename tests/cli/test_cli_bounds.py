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
    out = _json(capsys, ["lr-max-bound", "--method", "stablesam-u", "--L", "1", "--beta", "1", "--n", "100", "--setting", "convex", "--eps", "0.1", "--T", "100", "--rho", "0.05", "--assumption", "lipschitz-step"])
    assert out["assumption"] == "lipschitz-step" and "no assumption on gamma_t" in out["assumption_detail"]


def test_excess_risk_refuses_the_lipschitz_step_term_under_per_example_sampling(capsys):
    # Issue 24, item 2: the lipschitz-step optimization term averages over gamma_t, which depends on the sampled
    # example; it holds full batch only, and the stability term needs per-example sampling. (Old code: exit 0.)
    code = main(["excess-risk", "--method", "stablesam-u", "--L", "1", "--beta", "1", "--n", "100", "--D", "1", "--T", "100", "--rho", "0.05", "--assumption", "lipschitz-step"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "optimization term holds full-batch only" in err


ISSUE_EXAMPLE = ["--L", "2", "--beta", "3", "--n", "37", "--T", "211", "--rho", "0.2"]  # issue 24, item 4


def test_bounds_print_the_recursion_beside_the_closed_form(capsys):
    # USAM convex at the issue's example: closed form 4.43e38, recursion 6.11e37 (7x tighter). Old code: no such keys.
    out = _json(capsys, ["bounds", "--setting", "convex", "--method", "usam", *ISSUE_EXAMPLE, "--lr", "0.3"])
    assert out["closed form"] == out["eps_stab"] == pytest.approx(usam_convex(0.3, L=2, beta=3, rho=0.2, n=37, T=211), rel=1e-15)
    assert out["closed form"] == pytest.approx(4.43086e38, rel=1e-5) and out["recursion (tighter)"] == pytest.approx(6.10674e37, rel=1e-5)
    assert out["eps_stab_is"].startswith("closed form")
    # Every published closed form (HRS 3.8, 3.9, 3.12) and derived one is at least its recursion.
    for setting, rate in (("convex", ["--lr", "0.1"]), ("strongly-convex", ["--lr", "0.1", "--mu", "0.5"]), ("nonconvex", ["--c", "0.1"])):
        for method in ("sgd", "usam", "sam"):
            out = _json(capsys, ["bounds", "--setting", setting, "--method", method, *ISSUE_EXAMPLE, *rate])
            if "closed form" in out:
                assert out["recursion (tighter)"] <= out["closed form"] * (1 + 1e-12)
            else:
                assert "recursion" in out["source"]
    text = main(["bounds", "--setting", "convex", "--method", "usam", *ISSUE_EXAMPLE, "--lr", "0.3"])
    printed = capsys.readouterr().out
    assert text == 0 and "\nrecursion (tighter): 6.10674e+37\n" in printed and "\nclosed form: 4.43086e+38\n" in printed
    lr_max = _json(capsys, ["lr-max-bound", "--setting", "nonconvex", "--method", "sgd", *CONSTANTS, "--eps", "0.5"])
    assert lr_max["recursion (tighter)"]["max_c"] > lr_max["closed form"]["max_c"] == lr_max["max_c"]
    risk = _json(capsys, ["excess-risk", "--method", "usam", *ISSUE_EXAMPLE[:-2], "--D", "1", "--rho", "0.01", "--lr", "0.01"])
    assert risk["recursion (tighter)"]["total"] <= risk["closed form"]["total"] == risk["total"]
    assert risk["recursion (tighter)"]["optimal_total"] <= risk["closed form"]["optimal_total"] * (1 + 1e-9)


@pytest.mark.parametrize("command", ["bounds", "excess-risk", "lr-max-bound"])
def test_every_printed_bound_names_its_assumption(command, capsys):
    # Issue 24, item 3: every bound names what it assumes; sharing one gamma is an assumption even at the top of
    # the range (old code: "an upper bound every trajectory meets", and no assumption_detail for SGD/USAM/SAM).
    extra = {"bounds": ["--setting", "convex", "--lr", "0.1"], "excess-risk": ["--D", "1"], "lr-max-bound": ["--setting", "convex", "--eps", "0.1"]}[command]
    for method in ("sgd", "usam", "sam"):
        out = _json(capsys, [command, "--method", method, *CONSTANTS, "--rho", "0.05", *extra])
        assert "per-example" in out["assumption_detail"] and "Hardt et al. 2016" in out["assumption_detail"]
    top = _json(capsys, [command, "--method", "stablesam-u", *CONSTANTS, "--rho", "0.05", "--gamma", "1", "--assumption", "shared-gamma", *extra])
    assert "shared-factor assumption" in top["assumption_detail"] and "an assumption even at the top of the range" in top["assumption_detail"]
    assert "every trajectory meets" not in top["assumption_detail"]
    if command == "excess-risk":
        assert "gamma_t = gamma at every step (an assumption)" in top["assumption_detail"]


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

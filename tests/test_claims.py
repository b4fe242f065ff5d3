"""The claims registry evaluated on synthetic results with planted effects, and the report written from it.

``PlantedResults`` stands in for the cache of finished experiments: every claim's experiment gets data in
which the claim is true by construction (or reversed), so the registry's evaluation must return the planted
verdicts; the report must then render and ``verdicts.json`` match its schema.
"""

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from stablesam.analysis.verify.claims import CLAIMS, PAIRS, Experiment, claim_ids, make_scale
from stablesam.analysis.verify.run import SCHEMA_VERSION, ExperimentFailed, evaluate_claims, provenance
from stablesam.analysis.verify.report import VERDICTS_SCHEMA, schema_errors, write_report
from stablesam.analysis.experiments.twin_stability import LossDifferences
from stablesam.analysis.verify.verdicts import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from stablesam.core.validation import UsageError

N_TEST = 40


def _rng(*key) -> np.random.Generator:
    """A generator of its key (sha256, not ``hash``: stable across processes)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class PlantedResults:
    """Synthetic results: ``reverse=True`` plants the opposite of every claim."""

    def __init__(self, scale, *, reverse=False):
        self.scale, self.reverse = scale, reverse

    def path(self, experiment: Experiment):
        return f"/nonexistent/{experiment.key}"

    def _stable(self, method):
        return method.startswith("stablesam")

    def data(self, experiment: Experiment):
        s = experiment.settings
        g = _rng("data", experiment.key)
        if experiment.kind == "timing":
            a = 1.0 + 0.05 * g.random(s["blocks"])
            factor = 1.5 if self.reverse else 1.0 + 0.005 * g.random(s["blocks"])
            return {"seconds_a": list(a), "seconds_b": list(a * factor), "steps": s["steps"], "threads": 1, "device": "cpu"}
        if experiment.kind == "exact":  # C2/C4 theory: USAM more stable than SGD at the small half of the grid only
            lrs = np.asarray(s["lrs"])
            sgd = lrs * 10.0
            small = np.arange(len(lrs)) < len(lrs) // 2
            usam = sgd * np.where(small != self.reverse, 0.5, 2.0)
            usam[-1] = sgd[-1] = np.inf  # both diverged at the largest eta: no comparison there
            curves = [{"method": m, "rho": r, "rms": list(usam if m == "usam" else sgd)} for m, r in s["methods"]]
            return {"lrs": list(lrs), "curves": curves, "steps": s["steps"], "beta": 1000.0, "L": 1.0, "n": s["n"]}
        if experiment.kind == "eos":
            return {"table": _planted_eos_table(s, reverse=self.reverse)}
        steps = 30
        if self._stable(s["method"]):  # C7: gamma below 1, or above 1 at every step when reversed
            gamma = (1.2 if self.reverse else 0.8) + 0.05 * g.random(steps)
        else:  # C1: surrogate longer (ratio 1.3), or shorter when reversed
            gamma = (1.3 if self.reverse else 1 / 1.3) * (1 + 0.01 * g.standard_normal(steps))
        return {"gamma": list(gamma), "grad_norm": list(np.ones(steps)), "diverged": False}

    def twin_table(self, experiment: Experiment):
        s = experiment.settings
        n = len(s["seeds"])
        g = _rng("table", experiment.key)
        edge = 1.0 if self._stable(s["optimizer"]) != self.reverse else 0.3  # C3: StableSAM trains at larger eta
        trained = s["lr"] <= edge
        accuracy = 0.95 + 0.002 * g.standard_normal(n)
        if self.reverse and self._stable(s["optimizer"]):
            accuracy = accuracy - 0.05  # C5: five points worse
        return {"seed": np.arange(n), "distance": 1.0 + 0.1 * g.random(n), "diverged": np.zeros(n, dtype=bool),
                "train_accuracy": np.where(trained, 0.99, 0.5) + np.zeros(n), "test_accuracy": accuracy}

    def test_losses(self, experiment: Experiment):
        s = experiment.settings
        n = len(s["seeds"])
        method, lr = s["optimizer"], s["lr"]
        small = lr <= sorted(self.scale.lrs)[len(self.scale.lrs) // 2 - 1]
        if method == "sgd":
            scale = 1.0
        elif self._stable(method):  # C4: StableSAM's loss differences a third of its base's
            scale = 0.3 if not self.reverse else 3.0
        else:  # C2: SAM/USAM more stable than SGD at small eta only (reversed: only at large eta)
            scale = (0.3 if small else 3.0) if not self.reverse else (3.0 if small else 0.3)
        if self._stable(method):
            base = {"stablesam-n": "sam", "stablesam-u": "usam"}[method]
            base_scale = self.test_losses(dataclasses.replace(experiment, settings={**s, "optimizer": base})).diff
            return LossDifferences(tuple(s["seeds"]), (0,), base_scale * scale)
        shared = np.linspace(-1.0, 1.0, N_TEST)  # the seed-independent part the sup over z picks up
        noise = 0.05 * _rng("losses", s["lr"]).standard_normal((n, 1, N_TEST))
        return LossDifferences(tuple(s["seeds"]), (0,), scale * (shared + noise))


def _planted_eos_table(settings, *, reverse=False, below=False, grad_norm=0.5):
    """Tidy edge-of-stability rows (stablesam.analysis.experiments.edge_of_stability.COLUMNS): each base hovers at its own edge; StableSAM
    at 0.95 * 2/eta, above its base's edge (``below``: at half its base's edge; ``reverse``: StableSAM diverges)."""
    from stablesam.analysis.experiments.edge_of_stability import edge_for

    rows = []
    for optimizer in settings["methods"]:
        stable = optimizer.startswith("stablesam")
        for lr in settings["lrs"]:
            rho = settings["rhos"][0] if optimizer != "gd" else 0.0
            for seed in settings["seeds"]:
                g = _rng("eos", optimizer, lr, seed)
                edge = float(edge_for(optimizer, lr, rho=rho, grad_norm=grad_norm))
                base_edge = float(edge_for({"stablesam-n": "sam", "stablesam-u": "usam"}.get(optimizer, optimizer),
                                           lr, rho=rho, grad_norm=grad_norm))
                run = f"{optimizer}_{lr}_{seed}"
                for step in range(0, 101, 10):
                    if reverse and stable and step == 50:
                        rows += [(run, seed, optimizer, rho, lr, step, "loss", float("inf")),
                                 (run, seed, optimizer, rho, lr, step, "diverged", 1.0)]
                        break
                    level = (0.5 * base_edge if below else 0.95 * edge) if stable else edge
                    sharpness = level * (1 + 0.01 * g.standard_normal())
                    rows += [(run, seed, optimizer, rho, lr, step, metric, value) for metric, value in
                             (("loss", 1.0), ("grad_norm", grad_norm), ("sharpness", sharpness), ("edge", edge),
                              ("sharpness_ratio", sharpness / edge))]
    return [dict(zip(("run", "seed", "optimizer", "rho", "lr", "step", "metric", "value", "model", "dataset"),
                     (*row, "mlp-tanh-32", settings["dataset"]))) for row in rows]


@pytest.fixture(scope="module")
def scale():
    return dataclasses.replace(make_scale("quick"), bootstrap_resamples=200)


@pytest.fixture(scope="module")
def planted(scale):
    return evaluate_claims(tuple(CLAIMS), scale, PlantedResults(scale))


def test_planted_effects_are_supported(planted):
    documents, _ = planted
    assert {d["id"]: d["verdict"] for d in documents} == {c: SUPPORTED for c in CLAIMS}


def test_reversed_effects_are_not_supported(scale):
    documents, _ = evaluate_claims(tuple(CLAIMS), scale, PlantedResults(scale, reverse=True))
    assert {d["id"]: d["verdict"] for d in documents} == {c: NOT_SUPPORTED for c in CLAIMS}


def test_c2_reports_crossover_between_the_grid_points(planted, scale):
    c2 = next(d for d in planted[0] if d["id"] == "C2")
    assert any("crossover eta" in note for note in c2["notes"])
    patterns = planted[1]["C2"]["patterns"]
    mid = sorted(scale.lrs)[len(scale.lrs) // 2 - 1: len(scale.lrs) // 2 + 1]
    for p in patterns:  # the ratio jumps from 0.3 to 3 between these two grid points
        assert mid[0] < p["crossover_lr"] < mid[1]


def test_failed_experiment_makes_the_claim_inconclusive(scale):
    class Failing(PlantedResults):
        def data(self, experiment):
            raise ExperimentFailed(f"{experiment.label} failed: boom")

    documents, _ = evaluate_claims(("C1", "C2", "C5"), scale, Failing(scale))
    verdicts = {d["id"]: d for d in documents}
    assert verdicts["C1"]["verdict"] == INCONCLUSIVE and "boom" in verdicts["C1"]["notes"][0]
    assert verdicts["C5"]["verdict"] == SUPPORTED
    # C2's exact theory computation failed: the theory says so, the twin runs still decide.
    assert verdicts["C2"]["verdict"] == SUPPORTED
    assert verdicts["C2"]["theory"]["status"] == "no prediction" and "boom" in verdicts["C2"]["theory"]["summary"]


def test_c2_c4_theory_reads_the_exact_twin_distances(planted, scale):
    theory = {d["id"]: d["theory"] for d in planted[0]}
    exact = theory["C2"]["numbers"]["exact"]
    half = len(scale.exact_lrs) // 2
    for r in scale.exact_rhos:  # USAM planted more stable on the small half only; both infinite at the largest eta
        per_eta = exact["usam_vs_sgd"][f"rho={r:g}"]["per_eta"]
        assert per_eta == [SUPPORTED] * half + [NOT_SUPPORTED] * (len(scale.exact_lrs) - half - 1) + [INCONCLUSIVE]
    assert theory["C2"]["status"] == "consistent"
    # StableSAM-U is SGD with one example per step: more stable than USAM at the large half, less at the small.
    assert theory["C4"]["status"] == "no prediction"
    # The bounds: USAM's derived convex bound is never below SGD's (it is (1 + eta rho beta^2)-expansive).
    assert theory["C2"]["numbers"]["bounds_vs_sgd"]["usam"]["better"] == []
    reversed_docs, _ = evaluate_claims(("C2",), scale, PlantedResults(scale, reverse=True))
    assert reversed_docs[0]["theory"]["status"] == "contradicts"


def test_theory_disagreeing_with_the_verdict_is_noted(scale):
    class ReversedTheory(PlantedResults):
        def data(self, experiment):
            return PlantedResults(self.scale, reverse=True).data(experiment)

    documents, _ = evaluate_claims(("C2",), scale, ReversedTheory(scale))
    assert documents[0]["verdict"] == SUPPORTED and documents[0]["theory"]["status"] == "contradicts"
    assert any("theory and experiment disagree" in note for note in documents[0]["notes"])
    assert "experiment" in documents[0]["decided_by"]


def test_exact_experiment_matches_the_theory_function():
    from stablesam.analysis.verify.run import _run_in_process
    from stablesam.analysis.experiments.exact_stability import digits_twins
    from stablesam.theory.twin_moments import expected_twin_distance

    lrs = [1e-4, 1e-3]
    data = _run_in_process(Experiment("exact", dict(lrs=lrs, methods=[["sgd", 0.0], ["usam", 0.05]], steps=15, n=30,
                                                    replaced_index=0)))
    json.loads(json.dumps(data))  # JSON as cached
    X, y, X2, y2 = digits_twins(n=30)
    for curve in data["curves"]:
        direct = expected_twin_distance(X, y, X2, y2, np.asarray(lrs), method=curve["method"], rho=curve["rho"], steps=15)
        # the same function on the same inputs: equal up to the summation order of pandas' round trip (none here)
        np.testing.assert_array_equal(curve["rms"], direct.rms[:, -1])
    assert data["lrs"] == lrs and data["n"] == 30


def test_every_claim_is_complete():
    for claim in CLAIMS.values():
        assert claim.statement and claim.source and claim.stronger and claim.would_change
        assert claim.combine in ("every setting", "some setting, none contradicting")
        assert claim.decided_by
    # Issue 14's theory (C2, C4) and issue 15's plateaus (C3, analysis/claims_eos.py) are wired in: nothing pending.
    assert not any(claim.pending for claim in CLAIMS.values())


def test_claim_ids_parse_and_reject():
    assert claim_ids("c3, C1") == ("C1", "C3")
    assert claim_ids(None) == tuple(CLAIMS)
    with pytest.raises(UsageError, match="C9"):
        claim_ids("C1,C9")
    with pytest.raises(UsageError, match="at least one"):
        claim_ids(" , ")


def test_experiments_shared_between_claims(scale):
    # C2 and C4 use the same SAM/USAM twin runs and the same exact computation: equal settings, one cached experiment.
    c2 = {e.key for e in CLAIMS["C2"].experiments(scale)}
    c4 = {e.key for e in CLAIMS["C4"].experiments(scale)}
    assert len(c2 & c4) == 2 * len(scale.lrs) * len(scale.stability_models) + 1
    assert all(e.settings["n_pool"] == 1 for e in CLAIMS["C2"].experiments(scale) if e.kind == "twin")  # S' fixed
    assert {m for pair in PAIRS for m in pair} == {"sam", "usam", "stablesam-n", "stablesam-u"}


def _document(planted, scale):
    documents, figures = planted
    return {"schema_version": SCHEMA_VERSION, "scale": scale.name, "settings": scale.to_dict(), "claims": documents,
            "provenance": provenance(scale, seconds=1.5, command="stablesam verify --quick")}, figures


def test_report_renders_and_verdicts_match_schema(planted, scale, tmp_path):
    document, figures = _document(planted, scale)
    paths = write_report(tmp_path, document, figures)
    written = json.loads(paths["verdicts"].read_text())
    assert schema_errors(written) == []
    jsonschema = pytest.importorskip("jsonschema")  # installed with the dev extra (nbformat needs it)
    jsonschema.Draft202012Validator(VERDICTS_SCHEMA).validate(written)
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == len(CLAIMS)  # self-contained: every figure embedded
    assert "src=\"http" not in html and "<link" not in html
    markdown = paths["markdown"].read_text()
    for claim in CLAIMS:
        assert f"| {claim} |" in markdown and (tmp_path / "figures" / f"{claim}.png").is_file()
    assert "part=plateau" in markdown and "Pending:" not in markdown
    assert markdown.count("How theory and experiment combine:") == len(CLAIMS)


def test_schema_checker_finds_violations(planted, scale):
    document, _ = _document(planted, scale)
    document = json.loads(json.dumps(document, default=float))
    document["claims"][0]["verdict"] = "probably"
    del document["provenance"]["commit"]
    document["claims"][1]["cases"][0]["interval"] = {"estimate": "high"}
    errors = schema_errors(document)
    assert any("'probably' is not one of" in e for e in errors)
    assert any("missing 'commit'" in e for e in errors)
    assert any("claims[1].cases[0].interval" in e for e in errors)


def test_invalid_document_writes_nothing(planted, scale, tmp_path):
    document, figures = _document(planted, scale)
    document["claims"][0]["verdict"] = "probably"
    with pytest.raises(ValueError, match="violates its schema"):
        write_report(tmp_path / "out", document, figures)
    assert not (tmp_path / "out").exists()


# -- C3's edge-of-stability part (analysis/claims_eos.py) ---------------------------------------------------


class _EosOnly:
    def __init__(self, **planted):
        self.planted = planted

    def data(self, experiment):
        return {"table": _planted_eos_table(experiment.settings, **self.planted)}


def _plateau(scale, **planted):
    from stablesam.analysis.verify.claims_eos import plateau_cases

    cases, notes, figure = plateau_cases(scale, _EosOnly(**planted), np.random.default_rng(0), 200)
    return {c["setting"]["method"]: c for c in cases}, notes, figure


def test_plateau_above_the_base_edge_is_supported(scale):
    cases, notes, figure = _plateau(scale)
    assert {m: c["verdict"] for m, c in cases.items()} == {"stablesam-n": SUPPORTED, "stablesam-u": SUPPORTED}
    # By hand (eta = 0.1, rho = 0.05, ||g|| = 0.5): SAM's edge (||g||/(2 rho))(sqrt(1 + 8 rho/(eta ||g||)) - 1)
    # = 5 (sqrt(9) - 1) = 10, USAM's (sqrt(1 + 8 rho/eta) - 1)/(2 rho) = 10 (sqrt(5) - 1); StableSAM planted at
    # 0.95 * 2/eta = 19 with 1% noise (the mean over 3 seeds of medians: within 2%).
    assert cases["stablesam-n"]["interval"]["estimate"] == pytest.approx(19 / 10, rel=0.02)
    assert cases["stablesam-u"]["interval"]["estimate"] == pytest.approx(19 / (10 * (5 ** 0.5 - 1)), rel=0.02)
    assert len(figure["plateaus"]) == 5 and any(n.startswith("plateau ratio") and " gd " in n for n in notes)


def test_plateau_below_the_base_edge_is_no_evidence(scale):
    cases, _, _ = _plateau(scale, below=True)
    for case in cases.values():  # the ratio's interval lies below 1, but the base would be stable there too
        assert case["interval"]["high"] < 1 and case["verdict"] == INCONCLUSIVE and "below" in case["status"]


def test_stablesam_diverging_where_its_base_trains_is_not_supported(scale):
    cases, _, _ = _plateau(scale, reverse=True)
    assert all(c["verdict"] == NOT_SUPPORTED and c["status"] == "StableSAM diverged" for c in cases.values())


def test_plateau_experiments_run_end_to_end(scale, tmp_path, monkeypatch):
    from stablesam.analysis.verify import claims_eos
    from stablesam.analysis.verify.run import Results, run_experiments

    tiny = dict(claims_eos.EOS_SETTINGS["quick"][0], hidden=[8], n_train=64, steps=20, measure_every=10)
    monkeypatch.setitem(claims_eos.EOS_SETTINGS, "quick", (tiny,))
    experiments = claims_eos.eos_experiments(scale)
    assert [e.settings["methods"] for e in experiments] == [[m] for m in claims_eos.EOS_METHODS]
    assert len(claims_eos.eos_experiments(make_scale("full"))) == 2 * len(claims_eos.EOS_METHODS)  # two models
    results = Results(tmp_path)
    assert run_experiments(experiments, results, progress=False) == {}
    assert all(results.finished(e) for e in experiments)  # cached: a rerun skips them
    cases, _, figure = claims_eos.plateau_cases(scale, results, np.random.default_rng(0), 200)
    assert len(cases) == 2 and {p["optimizer"] for p in figure["plateaus"]} == set(claims_eos.EOS_METHODS)
    assert all(c["verdict"] in (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE) for c in cases)


def test_c3_at_full_scale_decides_and_draws_every_plateau_setting():
    from stablesam.analysis.plots.claims import plot_claim

    full = dataclasses.replace(make_scale("full"), bootstrap_resamples=200)
    documents, figures = evaluate_claims(("C3",), full, PlantedResults(full))
    plateau = [c for c in documents[0]["cases"] if c["setting"]["part"] == "plateau"]
    assert documents[0]["verdict"] == SUPPORTED and {c["setting"]["dataset"] for c in plateau} == {"digits", "mnist1d"}
    figure = plot_claim(documents[0], figures["C3"])
    assert len(figure.axes[0].child_axes) == 1  # the plateau panel beside the trainability one

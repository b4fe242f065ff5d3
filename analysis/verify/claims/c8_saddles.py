"""C8: SAM is more likely than SGD to get stuck at saddle points; StableSAM mitigates it (the journal version).

Two parts, both required. **(a) "SAM stuck more than SGD"**: the escape-rate difference ``P(escape | GD) -
P(escape | SAM)``; **(b) "StableSAM mitigates"**: ``P(escape | StableSAM-N) - P(escape | SAM)`` (the paper's form,
renormalized SAM against SAM), and likewise every other StableSAM against its base wherever the method table has
the pair (:data:`~stablesam.analysis.verify.experiments.PAIRS`: StableSAM-U against USAM, StableSAM-A against
ASAM), in the same Holm family. Each is paired over units that see the same start and the same noise draws (toys:
start x noise level x repeat within a saddle; network: seeds, from the origin), and decided per setting by the
exact-conservative interval of a paired risk difference
(:func:`stablesam.analysis.verify.verdicts.paired_binary_interval`) against a margin of 0.1: supported when the
whole 95% interval lies above 0.1, not supported when it lies wholly below 0.1 (no effect of that size: equal
escape rates are "not supported", not "inconclusive"). The settings of a part form one Holm family
(existential: some setting supports it, none contradicts). The claim is supported when both parts are, not
supported when either part is. A diverged run counts as not escaped.

Experiments: the toy saddles (:func:`stablesam.analysis.experiments.saddles.toy_escape_table`, every scale,
seconds); the small-initialisation digits MLP (:func:`~stablesam.analysis.experiments.saddles.network_escape_table`,
standard and full scales only). Margin, units and settings were fixed in the experiments' module before any run.
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, Claim, ClaimResult, TheoryCheck, case
from stablesam.analysis.verify.experiments import PAIRS, Experiment
from stablesam.analysis.verify.verdicts import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    DecisionRule,
    combine_existential,
    holm_verdicts,
    paired_binary_interval,
)

MARGIN = 0.1
RULE = DecisionRule("escape-rate difference, paired over units (exact-conservative interval)", claimed="greater",
                    boundary=MARGIN, null=MARGIN, min_units=20)
# Each part's (arm, base) comparisons: (b) is every StableSAM against its base (SAM first, the paper's form).
PARTS = {"sam_stuck_more_than_sgd": (("gd", "sam"),),
         "stablesam_mitigates": tuple((stable, base) for base, stable in PAIRS)}
TOY_UNITS = ["x0", "y0", "noise", "repeat"]
# The toy grid of stablesam.analysis.experiments.saddles.toy_escape_table (its defaults: 3 saddles, 7 starts, noise
# 0, 1e-3, 1e-2 with 10 repeats each = 147 units per saddle; eta = 0.1; rho 0.05 and 0.5; 1000 steps), every scale.
TOY_SETTINGS = dict(methods=["gd", "usam", "sam", "asam", "stablesam-u", "stablesam-n", "stablesam-a"], lr=0.1,
                    rhos=[0.05, 0.5], steps=1000, repeats=10, seed=0)
# The network part, standard and full only. Measured cost on this shared 2-core machine: 20 seeds x 7 methods x 2
# rho (plus the GD warm start) at 150 steps on all of digits took 115 s, so the standard scale runs the notebook's
# 500-example, 600-step setting (measured: 203 s, same machine), the full scale NetworkSaddleConfig's defaults (all of
# digits, 1500 steps). 20 seeds each, the rule's minimum.
NETWORK_SETTINGS = {"quick": None,
                    "standard": dict(seeds=list(range(20)), steps=600, n_train=500, rhos=[0.05, 2.0], init_scale=1e-3),
                    "full": dict(seeds=list(range(20)), steps=1500, rhos=[0.05, 2.0], init_scale=1e-3)}


def toy_experiment(scale) -> Experiment:
    return Experiment("saddle_toy", dict(TOY_SETTINGS))


def network_experiment(scale) -> Experiment | None:
    settings = NETWORK_SETTINGS[scale.name]
    return None if settings is None else Experiment("saddle_network", dict(settings))


def experiments(scale, results=None):
    return [e for e in (toy_experiment(scale), network_experiment(scale)) if e is not None]


def theory(scale, results=None) -> TheoryCheck:
    from stablesam.analysis.experiments.saddles import C8_THEORY, TOY_SADDLES
    from stablesam.theory.saddle import trap_radius

    from stablesam.core.validation import UsageError

    def radius(m, a, rho):
        try:
            return float(trap_radius(m, -a, TOY_SETTINGS["lr"], rho))
        except UsageError:
            return float("nan")

    radii = {f"{s.name} rho={rho:g}": {m: radius(m, s.a, rho) for m in ("sam", "stablesam-n", "usam", "stablesam-u")}
             for s in TOY_SADDLES for rho in TOY_SETTINGS["rhos"]}
    return TheoryCheck(
        "contradicts",
        "Derived linearised maps at a strict saddle: " + C8_THEORY["line"] + ". So part (a) is predicted and part "
        "(b), for StableSAM-N, is contradicted: its trap radius equals SAM's. Trap radii along y (toys, eta = 0.1): "
        + "; ".join(f"{k}: " + ", ".join(f"{m} {v:.3g}" for m, v in r.items()) for k, r in radii.items()),
        C8_THEORY["source"], {"trap_radius": radii, "status_line": C8_THEORY["status"]})


def _escape_cases(table, units, settings, source):
    """``[(setting, part or reported name, arm, base, arm escapes, base escapes)]`` paired over ``units``."""
    import pandas as pd

    escaped = table.assign(escaped=table["escaped"].astype(bool) & ~table["diverged"].astype(bool))
    non_rho = [c for c in settings if c != "rho"]
    reference = escaped[escaped["method"] == "gd"].set_index(non_rho + units)["escaped"]
    out = []
    for key, group in escaped[escaped["method"] != "gd"].groupby(settings, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        arms = {m: g.set_index(non_rho + units)["escaped"] for m, g in group.groupby("method")}
        arms["gd"] = reference
        setting = {"source": source, **dict(zip(settings, (k if isinstance(k, str) else float(k) for k in key)))}
        for name, (arm, base) in ((n, pair) for n, pairs in PARTS.items() for pair in pairs):
            if arm in arms and base in arms:
                joined = pd.concat([arms[arm].rename("arm"), arms[base].rename("base")], axis=1, join="inner")
                out.append((setting, name, arm, base, joined["arm"].to_numpy(bool), joined["base"].to_numpy(bool)))
    return out


def paired_cases(table, units, settings, source: str = "toy"):
    """The decided comparisons of one escape table as a tidy DataFrame: per setting and part, the escape-rate
    difference with its interval and its verdict (Holm within each part), e.g. for a notebook's own table."""
    import pandas as pd

    rows = []
    for name in PARTS:
        raw = [(s, arm, base, a, b) for s, n, arm, base, a, b in _escape_cases(table, list(units), list(settings), source)
               if n == name]
        intervals = [paired_binary_interval(a, b, RULE) for *_, a, b in raw]
        for (s, arm, base, *_), i, v in zip(raw, intervals, holm_verdicts(intervals, RULE)):
            rows.append({**s, "part": name, "comparison": f"{arm} - {base}", "estimate": i.estimate, "low": i.low,
                         "high": i.high, "n": i.n, "verdict": v})
    return pd.DataFrame(rows)


def _setting_label(s) -> str:
    return " ".join(x for x in (s["source"], s.get("saddle"), f"rho={s['rho']:g}") if x)


def evaluate(scale, results, generator) -> ClaimResult:
    import pandas as pd

    raw = _escape_cases(pd.DataFrame.from_records(results[toy_experiment(scale)]["table"]), TOY_UNITS,
                        ["saddle", "rho"], "toy")
    notes = []
    network = network_experiment(scale)
    if network is not None:
        table = pd.DataFrame.from_records(results[network]["table"])
        raw += _escape_cases(table[table["start"] == "origin"], ["seed"], ["rho"], "network")
        notes.append("network: " + "; ".join(
            f"{r.method} rho={r.rho:g}: stalled {int(r.stalled)} of {int(r.seeds)} seeds, hallucinated "
            f"{int(r.hallucinated)}, median ||g~||/||g|| {r.ratio:.3g}"
            for r in table[table["start"] == "origin"].groupby(["method", "rho"]).agg(
                stalled=("escaped", lambda e: int((~e.astype(bool)).sum())), seeds=("escaped", "size"),
                hallucinated=("hallucinated", "sum"), ratio=("surrogate_ratio", "median")).reset_index()
            .itertuples()))
    else:
        notes.append(f"network part not run at the {scale.name} scale (standard and full only)")
    intervals = {name: [] for name in PARTS}
    decided = {name: [] for name in PARTS}
    for setting, name, arm, base, a, b in raw:
        interval = paired_binary_interval(a, b, RULE)
        entry = (setting | {"part": name, "comparison": f"{arm} - {base}",
                            "escape_rate": {arm: float(a.mean()), base: float(b.mean())}}, interval)
        intervals[name].append(interval)
        decided[name].append(entry)
    cases, part_verdicts = [], {}
    for name in PARTS:
        part_verdicts[name], per_case = combine_existential(intervals[name], RULE)
        cases += [case(s, i, v) for (s, i), v in zip(decided[name], per_case)]
    parts = list(part_verdicts.values())
    verdict = (SUPPORTED if all(p == SUPPORTED for p in parts) else NOT_SUPPORTED if NOT_SUPPORTED in parts
               else INCONCLUSIVE)
    key = max((i for (s, _), i in zip(decided["stablesam_mitigates"], intervals["stablesam_mitigates"])
               if s["comparison"] == "stablesam-n - sam"), key=lambda i: i.low, default=None)
    mitigation = {}
    for c in cases:
        if c["setting"]["part"] == "stablesam_mitigates":
            mitigation.setdefault(c["setting"]["comparison"], []).append(c["verdict"])
    reading = (f"decided by paired escape-rate differences against a margin of {MARGIN:g} (exact-conservative "
               f"intervals, Holm within each part: {len(intervals['sam_stuck_more_than_sgd'])} and "
               f"{len(intervals['stablesam_mitigates'])} cases): SAM stuck more than GD "
               f"{part_verdicts['sam_stuck_more_than_sgd']}; StableSAM mitigates (every StableSAM against its base) "
               f"{part_verdicts['stablesam_mitigates']} (" + "; ".join(
                   f"{k}: " + ", ".join(f"{v.count(x)} {x}" for x in (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)
                                        if v.count(x)) for k, v in mitigation.items()) + ")"
               + ("" if network is not None else "; toys only at this scale"))
    rates = {}
    for setting, _ in [e for name in PARTS for e in decided[name]]:
        for m, r in setting["escape_rate"].items():
            rates[_setting_label(setting), m] = r
    escape = [{"setting": k[0], "method": k[1], "escaped": v} for k, v in rates.items()]
    return ClaimResult(verdict, reading, "escape-rate gain of StableSAM-N over SAM (largest setting)", key, cases,
                       notes, {"escape": escape, "parts": part_verdicts})


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import claim_figure
    from stablesam.analysis.plots.style import FULL_WIDTH, label

    fig, ax = claim_figure(claim, width=FULL_WIDTH * 0.8, height=2.8)
    rows = figure_data.get("escape", [])
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    grid = np.full((len(methods), len(settings)), np.nan)
    for r in rows:
        grid[methods.index(r["method"]), settings.index(r["setting"])] = r["escaped"]
    image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(settings)), settings, rotation=40, ha="right", fontsize=5)
    ax.set_yticks(range(len(methods)), [label(m) for m in methods], fontsize=6)
    fig.colorbar(image, ax=ax, label="fraction of runs that escape")
    return fig


CLAIM = Claim(
    id="C8", title="SAM gets stuck at saddle points more than SGD; StableSAM mitigates it",
    statement="SAM is more likely than SGD to get stuck at saddle points; StableSAM's renormalization mitigates it "
              "(the journal version's motivation).",
    source=f"JMLR 2025 version (arXiv v2); {SOURCE}", rule=RULE,
    combine="both parts; each some setting, none contradicting (Holm)",
    quantity="per setting, the paired escape-rate differences GD - SAM and each StableSAM - its base (N - SAM, U - "
             "USAM, A - ASAM) (escape: half-way to a "
             "minimum within the step budget on the toys, the loss at 0.9 of the origin's on the network)",
    stronger="'Stuck' is read as not escaping within a fixed step budget from a fixed grid of starts and noises; "
             "'more likely' as an escape-rate gap of more than 0.1; 'StableSAM mitigates' over every StableSAM and "
             "its base (N/SAM, U/USAM, A/ASAM) in one Holm family.",
    would_change="Other saddles, step budgets or noise levels; a larger margin.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot)

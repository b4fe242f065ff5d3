"""Every subcommand's ``--json`` object matches its schema (:mod:`stablesam.cli.schemas`), and the checker fails.

Each case runs the command at a small size, parses what it printed and validates it with
:func:`stablesam.core.schema.schema_errors` and, where installed, with ``jsonschema`` (draft 2020-12). The cases
cover every schema and the optional parts of the documents (SAM's cycle, a diverged quadratic, the recursion beside
a closed form, ``--run``); planted violations show that both checkers reject a wrong type, a number where a boolean
belongs, a missing key and an undocumented one.
"""

from __future__ import annotations

import copy
import json

import pytest

import stablesam.cli as cli
from stablesam.cli import COMMAND_SCHEMAS, build_parser, main, schemas
from stablesam.cli.output import emit
from stablesam.core.schema import schema_errors
from stablesam.stability.optimizers import DEFAULT_RHO

SWEEP = '[base]\ndataset = "digits"\nmodel = "linear"\nepochs = 1\nn_train = 64\nn_test = 32\nbatch_size = 32\n' \
        '[axes]\nlr = [0.1, 0.2]\n'
TWIN = ["twin", "--n-train", "60", "--epochs", "1", "--batch-size", "30", "--methods", "sgd", "--lrs", "0.1",
        "--seeds", "0", "--out", "{tmp}/twin"]
BOUND = ["--L", "1", "--beta", "1", "--n", "100"]

# case -> (the document's key in COMMAND_SCHEMAS, argv; {tmp} is the test's directory)
CASES = {
    "lr-max-sam": ("lr-max", ["lr-max", "--method", "sam", "--sharpness", "10", "--rho", "0.05", "--grad-norm", "0.5"]),
    "lr-max-usam": ("lr-max", ["lr-max", "--method", "usam", "--sharpness", "10", "--rho", "0.05"]),
    "edge-sam": ("edge", ["edge", "--method", "sam", "--lr", "0.1", "--rho", "0.05", "--grad-norm", "0.5"]),
    "edge-gd": ("edge", ["edge", "--method", "gd", "--lr", "0.1"]),
    "quadratic-cycle": ("quadratic", ["quadratic", "--eigenvalues", "4,1,0.25", "--method", "sam", "--rho", "0.1",
                                      "--lr", "0.3"]),
    "quadratic-diverged": ("quadratic", ["quadratic", "--eigenvalues", "4,1", "--method", "sam", "--rho", "0.1",
                                         "--lr", "0.6", "--steps", "500"]),
    "quadratic-threshold": ("quadratic", ["quadratic", "--eigenvalues", "2,1", "--method", "stablesam-u", "--rho",
                                          "0.5", "--steps", "500"]),
    "bounds-nonconvex": ("bounds", ["bounds", "--setting", "nonconvex", "--method", "sgd", *BOUND, "--T", "1000",
                                    "--c", "0.5"]),
    "bounds-step": ("bounds", ["bounds", "--setting", "convex", "--method", "sgd", *BOUND, "--T", "1000", "--lr",
                               "0.1", "--schedule", "step"]),
    "bounds-stablesam": ("bounds", ["bounds", "--setting", "convex", "--method", "stablesam-u", *BOUND, "--T", "100",
                                    "--lr", "0.01", "--rho", "0.05", "--assumption", "lipschitz-step"]),
    "excess-risk-sgd": ("excess-risk", ["excess-risk", "--method", "sgd", *BOUND, "--D", "1", "--T", "100", "--lr",
                                        "0.1"]),
    "excess-risk-stablesam": ("excess-risk", ["excess-risk", "--method", "stablesam-u", *BOUND, "--D", "1", "--T",
                                              "100", "--rho", "0.05", "--assumption", "shared-gamma", "--gamma", "1"]),
    "lr-max-bound-convex": ("lr-max-bound", ["lr-max-bound", "--setting", "convex", "--method", "usam", *BOUND, "--T",
                                             "100", "--eps", "0.5", "--rho", "0.1", "--curvature", "quadratic"]),
    "lr-max-bound-nonconvex": ("lr-max-bound", ["lr-max-bound", "--setting", "nonconvex", "--method", "sgd", *BOUND,
                                                "--T", "100", "--eps", "0.5"]),
    "sharpness": ("sharpness", ["sharpness", "--hidden", "8", "--n-train", "60", "--k", "2", "--trace-probes", "3"]),
    "lr-scan-least-squares": ("lr-scan", ["lr-scan", "--methods", "gd", "usam", "--steps", "100"]),
    "lr-scan-network": ("lr-scan", ["lr-scan", "--problem", "network", "--hidden", "8", "--n-train", "60",
                                    "--methods", "gd", "sam", "--steps", "10", "--grid-points", "3"]),
    "eos": ("eos", ["eos", "--n-train", "40", "--hidden", "4", "--steps", "4", "--measure-every", "2", "--methods",
                    "gd", "sam", "--lrs", "0.1", "--seeds", "0", "1", "--out", "{tmp}/eos"]),
    "train": ("train", ["train", "--epochs", "1", "--methods", "sgd", "stablesam-u", "--hidden", "8"]),
    "twin": ("twin", [*TWIN, "--figure", "{tmp}/twin.png"]),
    "sweep-dry-run": ("sweep --dry-run", ["sweep", "{tmp}/sweep.toml", "--out", "{tmp}/sweep", "--dry-run"]),
    "sweep": ("sweep", ["sweep", "{tmp}/sweep.toml", "--out", "{tmp}/sweep", "--workers", "0"]),
    "verify": ("verify", ["verify", "--quick", "--claims", "C7", "--seeds", "6", "--epochs", "1", "--device", "cpu",
                          "--out", "{tmp}/verify"]),
}


def _run_json(argv: list[str], capsys) -> dict:
    code = main([*argv, "--json"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    lines = printed.strip().splitlines()
    assert len(lines) == 1, "--json prints one JSON object on one line"
    return json.loads(lines[0])


def _validate(document: dict, schema: dict) -> None:
    assert schema_errors(document, schema) == []
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(schema).validate(document)


@pytest.mark.parametrize("case", CASES)
def test_each_json_output_matches_its_schema(case, tmp_path, capsys):
    key, argv = CASES[case]
    (tmp_path / "sweep.toml").write_text(SWEEP)
    document = _run_json([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    _validate(document, COMMAND_SCHEMAS[key])


def test_sharpness_of_a_twin_run_matches_its_schema(tmp_path, capsys):
    _run_json([a.replace("{tmp}", str(tmp_path)) for a in TWIN], capsys)
    document = _run_json(["sharpness", "--run", str(tmp_path / "twin"), "--model-index", "1"], capsys)
    assert document["twin"] == "S'"  # the --run keys are there, and validated
    # an sgd run trained with no ascent (twin's effective radius 0); the thresholds use the default radius
    assert document["run_rho"] == 0.0 and document["rho"] == DEFAULT_RHO
    _validate(document, COMMAND_SCHEMAS["sharpness"])


def _json_commands() -> set[str]:
    """The subcommands whose parser has ``--json``."""
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return {name for name, sub in subparsers.choices.items()
            if any("--json" in action.option_strings for action in sub._actions)}


def test_every_command_with_json_has_a_schema_and_a_case():
    documents = {key.split()[0] for key in COMMAND_SCHEMAS}
    assert documents == _json_commands()
    assert {key for key, _ in CASES.values()} == set(COMMAND_SCHEMAS)


def test_the_schemas_are_valid_json_schema_and_exported():
    assert set(schemas.__all__) <= set(cli.__all__)
    for name in schemas.__all__:
        assert getattr(cli, name) is getattr(schemas, name)
    assert set(map(id, COMMAND_SCHEMAS.values())) == {id(getattr(schemas, n)) for n in schemas.__all__
                                                      if n.endswith("_SCHEMA")}
    jsonschema = pytest.importorskip("jsonschema")
    for schema in COMMAND_SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_the_maximal_stable_learning_rate_has_one_name():
    """``max_stable_lr`` wherever a command prints the theory's threshold (no predicted_lr / lr_max)."""
    text = json.dumps(COMMAND_SCHEMAS)
    assert '"max_stable_lr"' in text and '"observed_max_stable_lr"' in text
    for other in ('"predicted_lr"', '"lr_max"', '"observed_lr"', '"predicted_lr_max"'):
        assert other not in text


def _lr_max_document(capsys) -> dict:
    return _run_json(CASES["lr-max-sam"][1], capsys)


@pytest.mark.parametrize(
    ("plant", "message"),
    [
        (lambda d: d.update(max_stable_lr="0.1"), "$.max_stable_lr: expected number, got str"),
        (lambda d: d.update(derived=1), "$.derived: expected boolean, got int"),  # a flag is a boolean, not 0/1
        (lambda d: d.update(sharpness=True), "$.sharpness: expected number, got bool"),
        (lambda d: d.pop("max_stable_lr"), "$: missing 'max_stable_lr'"),
        (lambda d: d.update(lr_max=0.1), "$: unexpected key 'lr_max'"),
        (lambda d: d.update(method="Lion SAM"), "$.method: 'Lion SAM' does not match"),  # not a method key's form
    ],
)
def test_a_planted_violation_is_rejected_by_both_checkers(plant, message, capsys):
    document = _lr_max_document(capsys)
    _validate(document, COMMAND_SCHEMAS["lr-max"])  # the unplanted document passes
    planted = copy.deepcopy(document)
    plant(planted)
    errors = schema_errors(planted, COMMAND_SCHEMAS["lr-max"])
    assert len(errors) == 1 and errors[0].startswith(message), errors
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(COMMAND_SCHEMAS["lr-max"]).validate(planted)


def test_a_violation_in_a_row_names_its_path():
    schema = COMMAND_SCHEMAS["sweep --dry-run"]
    document = {"out": "o", "trials": 1, "finished": 0, "failed": 0, "pending": 1,
                "rows": [{"trial": "lr=0.1", "status": "done"}]}
    assert schema_errors(document, schema) == ["$.rows[0].status: 'done' is not one of ['finished', 'failed', 'pending']"]


def test_non_finite_floats_are_null_or_inf_strings_only():
    schema = COMMAND_SCHEMAS["quadratic"]["properties"]["final_norm"]
    assert [schema_errors(v, schema) for v in (1.5, None, "inf", "-inf")] == [[], [], [], []]
    assert schema_errors("nan", schema) == ["$: 'nan' does not match '^-?inf$'"]


def test_emit_refuses_a_document_that_violates_its_schema_and_prints_nothing(capsys):
    with pytest.raises(RuntimeError, match=r"violates its schema 'stablesam lr-max --json': \$: missing 'source'"):
        emit({"method": "gd", "sharpness": 1.0, "rho": 0.0, "max_stable_lr": 2.0, "derived": False},
             as_json=True, schema=COMMAND_SCHEMAS["lr-max"])
    assert capsys.readouterr().out == ""


def test_the_checker_refuses_a_keyword_it_does_not_check():
    with pytest.raises(ValueError, match=r"\['anyOf'\]"):
        schema_errors(1, {"anyOf": [{"type": "number"}]})


@pytest.mark.parametrize("setting", ["convex", "nonconvex"])
def test_lr_max_bound_holds_exactly_one_of_max_lr_and_max_c(setting, capsys):
    """The convex bound prints ``max_lr``, the non-convex one ``max_c``; a document with both or neither fails."""
    document = _run_json(CASES[f"lr-max-bound-{setting}"][1], capsys)
    schema = COMMAND_SCHEMAS["lr-max-bound"]
    present = "max_lr" if setting == "convex" else "max_c"
    assert present in document and not schema_errors(document, schema)
    both = {**document, "max_c" if present == "max_lr" else "max_lr": 1.0}
    neither = {k: v for k, v in document.items() if k != present}
    jsonschema = pytest.importorskip("jsonschema")
    for planted, holding in ((both, 2), (neither, 0)):
        assert schema_errors(planted, schema) == [f"$: matches {holding} of the 2 schemas of oneOf (exactly one must "
                                                  "hold)"]
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(planted)

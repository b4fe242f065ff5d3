"""Fault injection on ``stablesam verify``'s output (issue 25): its cache entries and report are verified stores.

A small finished verification is built once per kind of entry (per-step trajectories: ``--claims C1,C7``; twin
runs: ``--claims C5``, both at 6 seeds and 1-2 epochs). Each test copies it, applies one damage and runs the same
command again: the damaged entry is set aside (``*.damaged``) or completed with one line on stderr, and the
verdicts are those of the uninterrupted run. Then: a second writer, the temporary files of killed writes, paths
checked before any work, and the provenance of a checkout whose commit git cannot read.
"""

import json
import os
import shutil

import pytest

from stablesam.analysis.verify.experiments import KINDS, Experiment
from stablesam.analysis.verify.run import Cache
from stablesam.cli import main
from stablesam.core.store import Store

STEPS = ["verify", "--quick", "--claims", "C1", "C7", "--seeds", "6", "--epochs", "2", "--device", "cpu"]
# --workers 0: the damage tests rerun one twin run at a time, in this process (a worker pool costs seconds to start)
TWINS = ["verify", "--quick", "--claims", "C5", "--seeds", "6", "--epochs", "1", "--device", "cpu", "--workers", "0"]


def _verdicts(out):
    """What a verification concluded: per claim its verdict, reading, key number, cases and notes."""
    document = json.loads((out / "verdicts.json").read_text())
    return [{k: c[k] for k in ("id", "verdict", "reading", "key", "cases", "notes")} for c in document["claims"]]


def _finished(tmp_path_factory, name, command):
    out = tmp_path_factory.mktemp(name) / "out"
    assert main([*command, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def steps_run(tmp_path_factory):
    return _finished(tmp_path_factory, "steps", STEPS)


@pytest.fixture(scope="module")
def twin_run(tmp_path_factory):
    return _finished(tmp_path_factory, "twins", TWINS)


def _copy(run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(run, out)
    return out


def _rerun(command, out, capsys):
    capsys.readouterr()
    assert main([*command, "--out", str(out)]) == 0
    return capsys.readouterr().err


# -- damages of one JSON entry (the same code path serves every JSON kind: exact, trajectory, timing, eos, ...) --
def _cut(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty(path):
    path.write_bytes(b"")


def _braces(path):
    path.write_text("{}")


def _random_bytes(path):
    path.write_bytes(os.urandom(512))


def _other_document(path):  # valid JSON with the checksum re-recorded: only the kind's shape check can tell
    path.write_text(json.dumps({"step": [0]}))
    store = Store(path.parents[1])
    name = path.relative_to(path.parents[1]).as_posix()
    store.put_json(name, {"step": [0]})


def _deleted(path):
    path.unlink()


JSON_DAMAGES = {"truncated": _cut, "empty": _empty, "braces": _braces, "random-bytes": _random_bytes,
                "other-document": _other_document, "deleted": _deleted}


@pytest.mark.parametrize("damage", list(JSON_DAMAGES))
def test_damaged_json_entry_is_set_aside_and_recomputed(steps_run, tmp_path, capsys, damage):
    out = _copy(steps_run, tmp_path)
    entry = sorted((out / "cache" / "trajectory").glob("*.json"))[0]
    JSON_DAMAGES[damage](entry)
    err = _rerun(STEPS, out, capsys)
    assert _verdicts(out) == _verdicts(steps_run)
    assert Store(out / "cache").fault(entry.relative_to(out / "cache").as_posix()) is None  # rewritten, verified
    assert [p.name for p in (out / "cache").rglob("*.damaged")] == ([] if damage == "deleted" else [entry.name + ".damaged"])
    if damage != "deleted":
        lines = [line for line in err.splitlines() if entry.name in line]
        assert len(lines) == 1 and "is damaged" in lines[0], err


# -- damages of one twin run of the cache ------------------------------------------------------------------------
def _twin_metrics_cut(run):
    _cut(run / "metrics.csv")


def _twin_metrics_deleted(run):
    (run / "metrics.csv").unlink()


def _twin_summary_cut(run):
    _cut(run / "summary.json")


def _twin_files_deleted(run):  # rm run/*: every file, the checkpoints folder stays
    for path in run.iterdir():
        if path.is_file():
            path.unlink()


TWIN_DAMAGES = {"metrics-cut": _twin_metrics_cut, "metrics-deleted": _twin_metrics_deleted,
                "summary-cut": _twin_summary_cut, "files-deleted": _twin_files_deleted}


@pytest.mark.parametrize("damage", list(TWIN_DAMAGES))
def test_damaged_twin_entry_is_completed_with_the_same_verdicts(twin_run, tmp_path, capsys, damage):
    out = _copy(twin_run, tmp_path)
    runs = sorted(p for p in (out / "cache" / "twin").iterdir() if p.is_dir())
    run = runs[0]
    TWIN_DAMAGES[damage](run)
    err = _rerun(TWINS, out, capsys)
    assert _verdicts(out) == _verdicts(twin_run)
    assert any(run.name in line for line in err.splitlines()), err
    for name in ("config.json", "summary.json", "metrics.csv"):
        assert Store(run).fault(name) is None
    # the rerun reproduced the run's metrics bit for bit
    assert (run / "metrics.csv").read_bytes() == (twin_run / "cache" / "twin" / run.name / "metrics.csv").read_bytes()
    # only the damaged run was touched: an intact entry is never set aside
    set_aside = sorted(p.name for p in (out / "cache" / "twin").iterdir() if ".damaged" in p.name)
    assert set_aside == ([run.name + ".damaged"] if damage == "files-deleted" else [])


def test_worker_processes_give_the_same_runs_and_verdicts_as_this_process(twin_run, tmp_path):
    """The default engine on CPU runs the twin runs on one worker process per core (local_workers); every trial
    runs on one torch thread wherever it runs, so its files and the verdicts are the same bit for bit."""
    from stablesam.analysis.verify.run import local_workers
    from stablesam.stability.threads import cpu_cores

    out = tmp_path / "out"
    assert main([*TWINS[:-2], "--out", str(out)]) == 0
    assert _verdicts(out) == _verdicts(twin_run)
    runs = sorted(p.name for p in (twin_run / "cache" / "twin").iterdir())
    assert runs and runs == sorted(p.name for p in (out / "cache" / "twin").iterdir())
    for run in runs:
        assert ((out / "cache" / "twin" / run / "metrics.csv").read_bytes()
                == (twin_run / "cache" / "twin" / run / "metrics.csv").read_bytes())
    provenance = json.loads((out / "verdicts.json").read_text())["provenance"]
    assert provenance["cpu_cores"] == cpu_cores() and provenance["workers"].startswith("one per CPU core")
    twin = Experiment("twin", {"device": "cpu"})
    assert local_workers(None, [twin] * 50) == cpu_cores() and local_workers(None, [twin]) == 1
    assert local_workers(None, [Experiment("twin", {"device": "cuda"})] * 4) == 0 and local_workers(3, [twin]) == 3


@pytest.mark.parametrize("name", ["metrics.csv", "summary.json", "config.json"])
def test_a_twin_file_damaged_after_verification_is_not_read(twin_run, tmp_path, name):
    """What a claim reads of a twin run goes through the run's checksums: a file changed after the cache verified
    it (here: one byte) fails the experiment instead of feeding a verdict."""
    from stablesam.analysis.verify.claim import ExperimentFailed
    from stablesam.analysis.verify.twin_outcome import TwinOutcome

    run = sorted(p for p in (_copy(twin_run, tmp_path) / "cache" / "twin").iterdir() if p.is_dir())[0]
    assert TwinOutcome(run).failures is not None  # intact: reads
    data = bytearray((run / name).read_bytes())
    data[-2] ^= 1
    (run / name).write_bytes(bytes(data))
    outcome = TwinOutcome(run)
    with pytest.raises(ExperimentFailed, match=name):
        outcome.failures  # reads summary, metrics and config


# -- one writer, no debris, paths checked first, provenance ------------------------------------------------------
def test_second_writer_gets_one_line_and_exit_2(steps_run, tmp_path, capsys):
    out = _copy(steps_run, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    with Store(out, what="stablesam verify").lock():
        capsys.readouterr()
        assert main([*STEPS, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is in use by another stablesam verify" in err[0]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    assert not list(out.rglob("error.json"))


def test_temporary_files_of_killed_writes_are_removed(steps_run, tmp_path, capsys):
    out = _copy(steps_run, tmp_path)
    debris = [out / "figures" / ".C7.png.6o45l0hu.png", out / "cache" / ".trajectory-1.json.k2j3h4g5.tmp",
              out / "cache" / "trajectory" / ".trajectory-2.json.abcd_123.tmp", out / ".verdicts.json.q1w2e3r4.tmp"]
    for path in debris:
        path.write_bytes(b"half a write")
    err = _rerun(STEPS, out, capsys)
    assert not [p for p in debris if p.exists()]
    assert sum("left by a write that was interrupted" in line for line in err.splitlines()) == len(debris)
    assert _verdicts(out) == _verdicts(steps_run)


def test_report_files_are_store_entries(steps_run):
    store = Store(steps_run)
    for name in ("verdicts.json", "report.md", "report.html", "figures/C1.png", "figures/C7.png"):
        assert store.fault(name) is None, name


@pytest.mark.parametrize("args, message", [
    (["--out", "{file}/sub"], "--out '{file}/sub' cannot be written"),
    (["--full", "--data-dir", "{empty}"], "--data-dir '{empty}': dataset 'cifar10'"),
])
def test_paths_are_checked_before_any_work(tmp_path, capsys, args, message):
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "empty").mkdir()
    paths = {"file": tmp_path / "a-file", "empty": tmp_path / "empty"}
    args = [a.format(**paths) for a in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "out")]
    assert main(["verify", *args, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(**paths) in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "empty"]


def test_unreadable_commit_is_null_with_a_note(monkeypatch, tmp_path):
    from stablesam.analysis.verify.run import _git_commit

    monkeypatch.setenv("GIT_DIR", str(tmp_path / "no-repository"))  # git refuses, as for a foreign owner
    recorded = _git_commit()
    assert recorded["commit"] is None and recorded["dirty"] is None
    assert "not a git repository" in recorded["commit_note"]


def test_report_says_why_the_commit_is_unknown(steps_run):
    from stablesam.analysis.verify.report import report_blocks

    document = json.loads((steps_run / "verdicts.json").read_text())
    document["provenance"].update(commit=None, dirty=None, commit_note="git could not read the commit: no repository")
    header = next(text for block, text in report_blocks(document) if block == "p")
    assert header.startswith("Commit unknown (git could not read the commit: no repository);"), header


# -- every JSON kind of the cache: a document without one of its kind's fields is damaged -------------------------
JSON_KINDS = sorted(name for name, kind in KINDS.items() if not kind.directory)


@pytest.mark.parametrize("kind", JSON_KINDS)
def test_every_json_kind_sets_aside_a_document_missing_a_field(tmp_path, capsys, kind):
    """The shape check of each kind (timing, exact, eos, regimes, saddles, flatness, trajectory), one field at a
    time, through the cache a verification reads: a missing field is a damaged entry, set aside and recomputed."""
    fields = KINDS[kind].fields
    assert fields, f"kind {kind!r} declares no fields: no damaged document of it could be told from a finished one"
    experiment = Experiment(kind, {"case": 1})
    for missing in fields:
        cache = Cache(tmp_path / missing)
        cache.store.lock()
        try:
            cache.write(experiment, dict.fromkeys(fields, 0))
            assert Cache(cache.cache_dir).finished(experiment)  # every field present: finished
            cache.write(experiment, {k: 0 for k in fields if k != missing})
            assert not cache.finished(experiment)
        finally:
            cache.store.unlock()
        assert [p.name for p in cache.cache_dir.rglob("*.damaged")] == [f"{experiment.key}.json.damaged"], missing
    assert "is damaged" in capsys.readouterr().err

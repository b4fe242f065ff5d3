"""Fault injection: damaged checkpoints, interrupted writes, concurrent writers, mixed run directories.

Each fault is applied to a real run directory and the next command must either recover (resume from the
newest intact checkpoint, bit-identical to an uninterrupted run on CPU) or refuse with one line and exit
status 2, writing nothing.
"""

import json
import math

import pytest
import torch

from stablesam.core.lock import DirectoryLock
from stablesam.stability.twin import TwinConfig, TwinTrainer, run_twin
from stablesam.cli import main

CONFIG = TwinConfig(dataset="digits", model="mlp", optimizer="stablesam-u", lr=0.1, epochs=3, batch_size=50,
                    n_train=100, n_test=50, seeds=(0,), replaced_indices=(3,), keep_checkpoints=0)


def _interrupted(path, monkeypatch, after_epochs=2):
    """A run killed after ``after_epochs`` epochs (their checkpoints written)."""
    original = TwinTrainer.train_epoch

    def killed(self, *args, **kwargs):
        if self.epoch == after_epochs:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TwinTrainer, "train_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        run_twin(CONFIG, path, progress=False)
    monkeypatch.setattr(TwinTrainer, "train_epoch", original)
    return path


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    return run_twin(CONFIG, tmp_path_factory.mktemp("whole") / "run", progress=False).run_dir


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero(path):
    path.write_bytes(b"")


def _flip_a_byte(path):  # still a valid zip archive: only the recorded sha256 can tell
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _zero, _flip_a_byte], ids=["truncated", "zero-bytes", "flipped-byte"])
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, monkeypatch, capsys, whole, damage):
    run = _interrupted(tmp_path / "run", monkeypatch)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "running" and summary["epochs_completed"] == 2  # current at every checkpoint
    assert set(summary["checkpoints"]) == {"epoch_0001.pt", "epoch_0002.pt"}
    latest = run / "checkpoints" / "epoch_0002.pt"
    damage(latest)
    capsys.readouterr()

    run_twin(CONFIG, run, progress=False)

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2, err
    assert "epoch_0002.pt" in err[0] and "damaged" in err[0] and "epoch_0002.pt.damaged" in err[0]
    assert "resumed from epoch 1 of 3" in err[1] and "epoch_0001.pt" in err[1]
    assert (run / "checkpoints" / "epoch_0002.pt.damaged").is_file()  # renamed aside, not deleted
    assert (whole / "metrics.csv").read_bytes() == (run / "metrics.csv").read_bytes()


def test_all_checkpoints_damaged_starts_again(tmp_path, monkeypatch, capsys, whole):
    run = _interrupted(tmp_path / "run", monkeypatch)
    for checkpoint in (run / "checkpoints").glob("epoch_*.pt"):
        _zero(checkpoint)
    capsys.readouterr()
    run_twin(CONFIG, run, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("is damaged (zero bytes)" in line for line in err[:2])
    assert "no intact checkpoint" in err[2] and "starting again from epoch 0" in err[2]
    assert (whole / "metrics.csv").read_bytes() == (run / "metrics.csv").read_bytes()


def test_kill_during_a_checkpoint_write(tmp_path, monkeypatch, capsys, whole):
    """A kill -9 inside ``torch.save`` leaves only the temporary file: the checkpoint itself never appears."""
    run = _interrupted(tmp_path / "run", monkeypatch)
    leftover = run / "checkpoints" / ".epoch_0003.pt.x1y2z3.pt"
    leftover.write_bytes(b"PK\x03\x04 half a checkpoint")
    capsys.readouterr()
    run_twin(CONFIG, run, progress=False)
    err = capsys.readouterr().err
    assert "interrupted" in err and "resumed from epoch 2 of 3" in err
    assert not leftover.exists()
    assert (whole / "metrics.csv").read_bytes() == (run / "metrics.csv").read_bytes()


def test_an_exception_inside_the_checkpoint_write_leaves_no_file(tmp_path, monkeypatch, whole):
    """A write that dies half way (here: the first checkpoint, cut to half its bytes just before its rename into
    place) leaves neither the checkpoint nor its temporary file."""
    import os

    real_replace = os.replace

    def dies_half_way(source, destination):
        size = os.stat(source).st_size
        if size > 10_000:  # a checkpoint, not a small JSON file
            os.truncate(source, size // 2)
            raise KeyboardInterrupt
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        run_twin(CONFIG, tmp_path / "run", progress=False)
    monkeypatch.setattr(os, "replace", real_replace)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == []
    run_twin(CONFIG, tmp_path / "run", progress=False)
    assert (whole / "metrics.csv").read_bytes() == (tmp_path / "run" / "metrics.csv").read_bytes()


def test_a_second_writer_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    with DirectoryLock(out, what="twin run"):  # another process's run (flock: per open file)
        code = main(["twin", "--dataset", "digits", "--n-train", "100", "--epochs", "1", "--out", str(out)])
        assert [p.name for p in out.iterdir()] == [".lock"]
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "in use by another twin run" in err and str(out) in err
    assert not out.exists()  # the holder created the directory and wrote nothing: removed with its lock


def test_a_second_sweep_into_the_same_directory_is_refused(tmp_path, capsys):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[base]\nepochs = 1\nn_train = 100\n[axes]\nlr = [0.1]\n')
    out = tmp_path / "out"
    with DirectoryLock(out, what="sweep"):
        assert main(["sweep", str(sweep), "--out", str(out), "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "in use by another sweep" in err


def test_the_lock_dies_with_its_holder(tmp_path):
    """flock is released by the kernel when the holder dies, however it dies."""
    import subprocess
    import sys

    code = (f"from stablesam.core.lock import DirectoryLock; import os; DirectoryLock({str(tmp_path)!r}).acquire(); "
            "os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code], check=False, env={**__import__("os").environ})
    DirectoryLock(tmp_path).acquire().release()


def test_readers_refuse_a_directory_mixing_two_runs(tmp_path, capsys, whole):
    other = run_twin(CONFIG.replace(lr=0.2), tmp_path / "other", progress=False).run_dir
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ("config.json", "summary.json"):
        (mixed / name).write_bytes((whole / name).read_bytes())
    (mixed / "checkpoints").mkdir()
    (mixed / "checkpoints" / "epoch_0003.pt").write_bytes((other / "checkpoints" / "epoch_0003.pt").read_bytes())
    assert main(["sharpness", "--run", str(mixed)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mixes files of different runs" in err


@pytest.mark.parametrize("command", ["sharpness", "twin"])
def test_a_garbage_config_json_is_named(tmp_path, capsys, command):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    (run / "metrics.csv").write_text("")
    args = ["sharpness", "--run", str(run)] if command == "sharpness" else \
        ["twin", "--dataset", "digits", "--n-train", "100", "--epochs", "1", "--out", str(run)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(run / "config.json") in err


def test_diverged_pairs_report_nan_and_the_step_not_a_stable_looking_number(tmp_path):
    config = CONFIG.replace(optimizer="sgd", lr=1e4, epochs=2)
    run = run_twin(config, tmp_path / "run", progress=False).run_dir
    summary = json.loads((run / "summary.json").read_text())
    assert {d["twin"] for d in summary["divergences"]} == {"S", "S'"}
    (pair,) = summary["pairs"]
    for key in ("distance", "loss_diff_max", "gamma_mean", "gen_gap"):
        assert pair[key] is None or math.isnan(pair[key]), key
    steps = {d["twin"]: d["step"] for d in summary["divergences"]}
    assert pair["diverged_step_S"] == steps["S"] and pair["diverged_step_S'"] == steps["S'"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its new parent, counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow  # about 25 s: two spawned workers, then the rerun finishes both 10-s trials one after the other
@pytest.mark.skipif(not __import__("os").path.isdir("/proc"), reason="reads process states from /proc (Linux)")
def test_a_killed_sweep_takes_its_workers_along_and_an_immediate_rerun_does_not_race(tmp_path):
    """kill -9 of a local sweep: its pool workers exit within a poll interval, and a rerun started at once
    finishes every trial (resuming the interrupted ones) with none marked failed."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from _sweep_runners import SlowTrial

    from stablesam.stability.sweeps import SweepSpec, run_sweep

    out = tmp_path / "out"
    axes = {"lr": [0.1, 0.2]}
    tests = Path(__file__).resolve().parents[1]  # tests/, where _sweep_runners.py lives
    code = ("import sys; from _sweep_runners import SlowTrial; from stablesam.stability.sweeps import SweepSpec, run_sweep; "
            f"run_sweep(SweepSpec.from_dict({{'axes': {axes!r}}}), {str(out)!r}, runner=SlowTrial(100), workers=2, "
            "progress=False)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent), str(tests)])}
    sweep = subprocess.Popen([sys.executable, "-c", code], env=env)
    pid_files = [out / "trials" / f"lr={lr}" / "pid" for lr in axes["lr"]]
    deadline = time.monotonic() + 60
    while not all(p.is_file() and p.read_text() for p in pid_files):
        assert sweep.poll() is None and time.monotonic() < deadline, "the sweep did not start its trials"
        time.sleep(0.05)
    workers = [int(p.read_text()) for p in pid_files]
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    killed = time.monotonic()
    while any(_alive(pid) for pid in workers) and time.monotonic() < killed + 5.0:  # poll 0.2 s; slack for load
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "pool workers outlived the killed sweep"
    steps = [len((p.parent / "steps.txt").read_text().splitlines()) if (p.parent / "steps.txt").is_file() else 0
             for p in pid_files]
    assert all(n < 100 for n in steps), steps  # they died mid-trial, 10 s long, rather than finishing it

    result = run_sweep(SweepSpec.from_dict({"axes": axes}), out, runner=SlowTrial(100), workers=0, progress=False)
    assert result.counts == {"finished": 2, "failed": 0, "pending": 0}
    assert not any(_alive(pid) for pid in workers)
    for lr in axes["lr"]:
        trial = out / "trials" / f"lr={lr}"
        assert len((trial / "steps.txt").read_text().splitlines()) == 100  # resumed, not restarted
        assert not (trial / "error.json").exists()


# -- issue 25: the faults that lost work or printed a wrong result ------------------------------------------


def test_a_checkpoint_damaged_before_its_checksum_reached_the_summary_is_not_trusted(tmp_path, monkeypatch, capsys,
                                                                                     whole):
    """Killed the moment epoch_0003.pt appeared (before summary.json recorded it), then one byte flipped: the
    checksum recorded before the file appeared catches it; the run resumes from epoch 2, bit-identical."""
    from stablesam.stability.twin.run import PreparedRun

    def killed_after_the_checkpoint(self, trainer):
        if trainer.epoch == 3:
            raise KeyboardInterrupt
        return original(self, trainer)

    original = PreparedRun._write_metrics
    monkeypatch.setattr(PreparedRun, "_write_metrics", killed_after_the_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        run_twin(CONFIG, tmp_path / "run", progress=False)
    monkeypatch.setattr(PreparedRun, "_write_metrics", original)
    run = tmp_path / "run"
    assert "epoch_0003.pt" not in json.loads((run / "summary.json").read_text())["checkpoints"]
    _flip_a_byte(run / "checkpoints" / "epoch_0003.pt")
    capsys.readouterr()
    run_twin(CONFIG, run, progress=False)
    err = capsys.readouterr().err
    assert "epoch_0003.pt" in err and "damaged" in err and "resumed from epoch 2 of 3" in err
    assert (whole / "metrics.csv").read_bytes() == (run / "metrics.csv").read_bytes()


def test_rerunning_a_finished_twin_command_is_already_complete(tmp_path, capsys):
    argv = ["twin", "--dataset", "digits", "--n-train", "100", "--epochs", "1", "--out", str(tmp_path / "run"),
            "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "already complete" in captured.err and json.loads(captured.out) == first


@pytest.mark.parametrize("where", ["gradient", "weights"])
def test_non_finite_gradients_or_weights_are_recorded_as_divergence(tmp_path, monkeypatch, where):
    """A NaN gradient behind a finite loss (model 1 at update 2), or weights turned NaN by the last update (model 0),
    is a divergence with its step and reason: the loss alone would not show either."""
    from stablesam.stability.twin.population import StackedPopulation
    from stablesam.stability.twin.stacked import StackedParameterPopulation

    calls = {"n": 0}

    def poisoned(original):
        def train_step(self, x, y, alive, lr):
            losses, stats = original(self, x, y, alive, lr)
            step, calls["n"] = calls["n"], calls["n"] + 1
            if where == "gradient" and step == 2:
                stats = {**stats, "grad_norm": torch.where(torch.arange(len(losses)) == 1, math.nan, stats["grad_norm"])}
            if where == "weights" and step == 2 * 3 - 1:  # the last update of the run (2 updates per epoch)
                with torch.no_grad():
                    next(iter(self.params.values()))[0].fill_(math.nan)
            return losses, stats
        return train_step

    # Whichever population the trainer builds for the model (stacked parameters for the MLP, vmap otherwise).
    for population in (StackedPopulation, StackedParameterPopulation):
        monkeypatch.setattr(population, "train_step", poisoned(population.train_step))
    summary = run_twin(CONFIG.replace(epochs=3), tmp_path / "run", progress=False).summary
    (divergence,) = summary["divergences"]
    expected = {"gradient": (1, 2, "non-finite gradient"), "weights": (0, 6, "non-finite parameters")}[where]
    model = 2 * divergence["pair"] + (divergence["twin"] == "S'")
    assert (model, divergence["step"], divergence["reason"]) == expected


# -- edge of stability: the twin's protection ---------------------------------------------------------------

EOS = dict(methods=("gd", "stablesam-n"), lrs=(0.2,), n_train=40, hidden=(4,), steps=20, measure_every=5,
           checkpoint_every=5, batch_size=16)


@pytest.fixture(scope="module")
def eos_whole(tmp_path_factory):
    from stablesam.analysis.experiments.edge_of_stability import EosConfig, run_edge_of_stability

    out = tmp_path_factory.mktemp("eos") / "whole"
    run_edge_of_stability(EosConfig(**EOS), out, progress=False)
    return out


def _eos_interrupted(path, monkeypatch):
    """An experiment killed in its second run (stablesam-n) at step 12: gd finished, stablesam-n checkpointed at 10."""
    from stablesam.analysis.experiments.edge_of_stability import EosConfig, _Run, run_edge_of_stability

    original = _Run.train_step

    def killed(self):
        if self.spec.optimizer == "stablesam-n" and self.step == 12:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(_Run, "train_step", killed)
    with pytest.raises(KeyboardInterrupt):
        run_edge_of_stability(EosConfig(**EOS), path, progress=False)
    monkeypatch.setattr(_Run, "train_step", original)
    return path


def _pickled(path):  # a file that only an unpickler would read
    import pickle

    path.write_bytes(pickle.dumps(__import__("argparse").Namespace(step=1)))


EOS_DAMAGE = {"truncated": _truncate, "zero-bytes": _zero, "flipped-byte": _flip_a_byte, "pickled": _pickled}


@pytest.mark.parametrize("damage", list(EOS_DAMAGE))
@pytest.mark.parametrize("which", ["finished-run", "unfinished-run"])
def test_eos_damaged_checkpoints_are_set_aside_and_recomputed(tmp_path, monkeypatch, capsys, eos_whole, damage, which):
    from stablesam.analysis.experiments.edge_of_stability import EosConfig, run_edge_of_stability

    out = _eos_interrupted(tmp_path / "eos", monkeypatch)
    name = {"finished-run": "gd_lr0.2_rho0_seed0.pt", "unfinished-run": "stablesam-n_lr0.2_rho0.05_seed0.pt"}[which]
    EOS_DAMAGE[damage](out / "runs" / name)
    capsys.readouterr()
    run_edge_of_stability(EosConfig(**EOS), out, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and "damaged" in err[0] and f"{name}.damaged" in err[0], err
    assert (out / "runs" / f"{name}.damaged").is_file()
    assert (out / "metrics.csv").read_bytes() == (eos_whole / "metrics.csv").read_bytes()


def test_eos_kill_and_resume_is_bit_identical_and_removes_debris(tmp_path, monkeypatch, capsys, eos_whole):
    from stablesam.analysis.experiments.edge_of_stability import EosConfig, run_edge_of_stability

    out = _eos_interrupted(tmp_path / "eos", monkeypatch)
    debris = out / "runs" / ".stablesam-n_lr0.2_rho0.05_seed0.pt.a1b2c3d4.tmp"
    debris.write_bytes(b"PK\x03\x04 half a checkpoint")
    capsys.readouterr()
    run_edge_of_stability(EosConfig(**EOS), out, progress=False)
    assert "interrupted" in capsys.readouterr().err and not debris.exists()
    assert (out / "metrics.csv").read_bytes() == (eos_whole / "metrics.csv").read_bytes()


def test_eos_garbage_config_json_is_set_aside_not_a_reason_to_overwrite(tmp_path, monkeypatch, capsys, eos_whole):
    from stablesam.analysis.experiments.edge_of_stability import EosConfig, run_edge_of_stability

    out = _eos_interrupted(tmp_path / "eos", monkeypatch)
    (out / "config.json").write_text("{not json")
    capsys.readouterr()
    run_edge_of_stability(EosConfig(**EOS), out, progress=False)  # no overwrite needed, nothing finished is lost
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config.json" in err[0] and "damaged" in err[0], err
    assert (out / "metrics.csv").read_bytes() == (eos_whole / "metrics.csv").read_bytes()
    assert json.loads((out / "config.json").read_text()) == EosConfig(**EOS).to_json()


def test_a_second_eos_writer_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "eos"
    with DirectoryLock(out, what="edge-of-stability experiment"):
        code = main(["eos", "--methods", "gd", "--n-train", "40", "--hidden", "4", "--steps", "2", "--out", str(out)])
        assert [p.name for p in out.iterdir()] == [".lock"]
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "in use by another edge-of-stability experiment" in err
    assert not out.exists()


# -- disk full: one line, nothing half-written, a rerun after freeing space finishes --------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs, almost filled by ``filler`` (delete it to free the space); root only."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _fill(disk, leave: int):
    import os

    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    (disk / "filler").write_bytes(b"\0" * max(free - leave, 0))


DISK_FULL = {
    "twin": (["twin", "--dataset", "digits", "--n-train", "100", "--epochs", "2", "--out", "{disk}/run"], 60_000),
    "eos": (["eos", "--methods", "gd", "--n-train", "40", "--hidden", "4", "--steps", "10", "--measure-every", "5",
             "--checkpoint-every", "5", "--out", "{disk}/eos"], 4_000),
    "train": (["train", "--epochs", "1", "--methods", "sgd", "--out", "{disk}/train.csv"], 100),
    "sweep": (["sweep", "{disk}/sweep.toml", "--out", "{disk}/sweep", "--workers", "0"], 30_000),
}


@pytest.mark.parametrize("command", list(DISK_FULL))
def test_disk_full_is_one_line_and_a_rerun_after_freeing_space_finishes(small_disk, capsys, command):
    argv, leave = DISK_FULL[command]
    argv = [a.format(disk=small_disk) for a in argv]
    (small_disk / "sweep.toml").write_text("[base]\nepochs = 2\nn_train = 100\n[axes]\nlr = [0.1, 0.2]\n")
    _fill(small_disk, leave)
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "no space left on device writing" in errors[0] and str(small_disk) in errors[0], errors
    leftovers = [p for p in small_disk.rglob(".*") if p.name != ".lock"]
    assert leftovers == [], leftovers  # no temporary file stays behind
    (small_disk / "filler").unlink()
    assert main(argv) == 0


def _half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


FINISHED_DAMAGE = {
    "metrics-cut-in-half": ("metrics.csv", _half),
    "metrics-deleted": ("metrics.csv", lambda p: p.unlink()),
    "summary-garbage": ("summary.json", lambda p: p.write_text("{not json")),
    "summary-altered": ("summary.json", lambda p: p.write_text(p.read_text().replace('"finished"', '"finished" '))),
}


@pytest.mark.parametrize("case", list(FINISHED_DAMAGE))
def test_a_damaged_file_of_a_finished_twin_run_is_rewritten_from_its_final_checkpoint(tmp_path, capsys, whole, case):
    """The same command after the damage prints the same result as the intact run, and the files are identical."""
    import shutil

    name, damage = FINISHED_DAMAGE[case]
    run = tmp_path / "run"
    shutil.copytree(whole, run, ignore=shutil.ignore_patterns(".lock"))
    damage(run / name)
    capsys.readouterr()
    result = run_twin(CONFIG, run, progress=False)
    err = capsys.readouterr().err
    assert "already complete" not in err and ("damaged" in err or not (run / f"{name}.damaged").exists())
    assert (run / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()
    intact = json.loads((whole / "summary.json").read_text())
    rewritten = json.loads((run / "summary.json").read_text())
    for key in ("status", "pairs", "divergences", "checkpoints", "epochs_completed", "run_id"):
        assert rewritten[key] == intact[key], key
    assert result.summary == rewritten


def test_a_killed_sweeps_temporary_manifest_is_removed_by_the_next_run(tmp_path, capsys):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[base]\nepochs = 1\nn_train = 100\n[axes]\nlr = [0.1]\n')
    out = tmp_path / "out"
    out.mkdir()
    debris = out / ".sweep.json.k1ll3d00.json"
    debris.write_text('{"half": ')
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "0"]) == 0
    assert not debris.exists() and "interrupted" in capsys.readouterr().err


def test_a_finished_run_written_before_checksums_were_recorded_is_still_complete(tmp_path, capsys, whole):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(whole, run, ignore=shutil.ignore_patterns(".lock", "checksums.json"))
    capsys.readouterr()
    run_twin(CONFIG, run, progress=False)
    assert "already complete" in capsys.readouterr().err
    assert not list(run.rglob("*.damaged")) and (run / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()


def test_disk_full_under_a_redirected_json_output_is_one_line(small_disk):
    import subprocess
    import sys

    _fill(small_disk, 0)
    with open(small_disk / "out.json", "w") as stdout:
        done = subprocess.run([sys.executable, "-c", "import sys; from stablesam.cli import main; "
                               "sys.exit(main(['edge', '--method', 'gd', '--lr', '0.1', '--json']))"],
                              stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["stablesam edge: error: no space left on device writing standard output"]

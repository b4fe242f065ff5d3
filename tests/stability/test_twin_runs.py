"""Run directories: layout, bit-exact resume, refusal to overwrite, validation before writing."""

import json

import pandas as pd
import pytest
import torch

from stablesam.core.store import Store
from stablesam.stability.twin import TwinConfig, TwinTrainer, load_checkpoint, prepare_twin, run_twin

CONFIG = TwinConfig(dataset="digits", model="mlp", optimizer="stablesam-n", base_optimizer="momentum", lr=0.1,
                    epochs=3, batch_size=50, n_train=150, n_test=50, seeds=(0, 1), replaced_indices=(7,),
                    log_every_steps=2, keep_checkpoints=0)


def test_run_directory_layout_and_contents(tmp_path):
    out = run_twin(CONFIG, tmp_path / "run", progress=False).run_dir
    assert TwinConfig.from_dict(json.loads((out / "config.json").read_text())) == CONFIG
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_completed"] == 3 and summary["divergences"] == []
    assert [p["pair"] for p in summary["pairs"]] == [0, 1]
    metrics = pd.read_csv(out / "metrics.csv", keep_default_na=False)
    for column in ("run", "seed", "optimizer", "rho", "lr", "epoch", "step", "metric", "value", "pair", "twin"):
        assert column in metrics.columns
    expected = {"distance", "distance_normalized", "layer_distance", "train_loss", "test_loss", "train_accuracy",
                "test_accuracy", "gen_gap", "loss_diff_max", "loss_diff_mean", "grad_norm_mean", "surrogate_grad_norm_mean",
                "gamma_mean", "gamma_min", "gamma_max", "applied_gamma_mean", "diverged"}
    assert expected <= set(metrics["metric"])
    assert sorted(metrics["epoch"].unique())[-1] == 3.0
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == ["epoch_0001.pt", "epoch_0002.pt", "epoch_0003.pt"]
    state = load_checkpoint(out / "checkpoints" / "epoch_0003.pt")  # weights_only=True
    assert state["step"] == 9 and set(state["population"]) == {"params", "buffers", "optimizer"}
    assert [p.name for p in out.glob(".*")] == [".lock"]  # the lock file; no temporary files left behind


def test_resume_after_a_kill_is_bit_identical(tmp_path, monkeypatch):
    whole = run_twin(CONFIG, tmp_path / "whole", progress=False).run_dir

    original = TwinTrainer.train_epoch

    def killed_after_two_epochs(self, *args, **kwargs):
        if self.epoch == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TwinTrainer, "train_epoch", killed_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        run_twin(CONFIG, tmp_path / "resumed", progress=False)
    assert json.loads((tmp_path / "resumed" / "summary.json").read_text())["status"] == "running"
    monkeypatch.setattr(TwinTrainer, "train_epoch", original)
    resumed = run_twin(CONFIG, tmp_path / "resumed", progress=False).run_dir

    assert (whole / "metrics.csv").read_bytes() == (resumed / "metrics.csv").read_bytes()
    a = load_checkpoint(whole / "checkpoints" / "epoch_0003.pt")
    b = load_checkpoint(resumed / "checkpoints" / "epoch_0003.pt")
    assert a["rows"] == b["rows"]
    for name in a["population"]["params"]:
        assert torch.equal(a["population"]["params"][name], b["population"]["params"][name])
    momentum_a = [s["momentum_buffer"] for s in a["population"]["optimizer"]["state"].values()]
    momentum_b = [s["momentum_buffer"] for s in b["population"]["optimizer"]["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(momentum_a, momentum_b))


def test_finished_runs_are_not_overwritten_without_overwrite(tmp_path, capsys):
    config = CONFIG.replace(epochs=1)
    first = run_twin(config, tmp_path / "run", progress=False)
    out = first.run_dir
    before = (out / "metrics.csv").read_bytes()
    capsys.readouterr()
    again = run_twin(config, out, progress=False)  # the same config: nothing to do, the stored result
    assert "already complete" in capsys.readouterr().err
    import pandas as pd

    assert again.summary == json.loads((out / "summary.json").read_text()) == first.summary
    assert again.metrics.equals(pd.read_csv(out / "metrics.csv"))
    with pytest.raises(ValueError, match="finished run of a different config; pass --overwrite"):
        run_twin(config.replace(lr=0.2), out, progress=False)
    assert (out / "metrics.csv").read_bytes() == before
    run_twin(config.replace(lr=0.2), out, overwrite=True, progress=False)
    assert json.loads((out / "config.json").read_text())["lr"] == 0.2


def test_unfinished_run_of_another_config_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(TwinTrainer, "train_epoch", lambda self, **kw: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run_twin(CONFIG, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="different config"):
        prepare_twin(CONFIG.replace(lr=0.3), tmp_path / "run")


@pytest.mark.parametrize("changes,message", [
    (dict(replaced_indices=(150,)), "replaced index 150 is out of range"),
    (dict(data_dir="/nonexistent/data"), "not an existing directory"),
    (dict(dataset="no-such-dataset"), "no-such-dataset"),
])
def test_bad_runs_are_refused_before_anything_is_written(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        run_twin(CONFIG.replace(**changes), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_foreign_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a twin run directory"):
        run_twin(CONFIG, tmp_path, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("values,message", [
    (dict(optimizer="adamw"), "optimizer must be one of"),
    (dict(label_noise=-0.1), "label_noise must be a real number in"),
    (dict(lr=0.0), "lr must be a real number in \\(0, inf\\); got 0.0"),
    (dict(rho=-1.0), "rho must be a real number in \\[0, inf\\)"),
    (dict(epochs=0), "epochs must be an integer in \\[1, 1e\\+06\\]"),
    (dict(seeds=[0, 0]), "seeds must be .* distinct"),
    (dict(replaced_indices=[-1]), "replaced_indices must be an integer >= 0"),
    (dict(device="tpu"), "device must be one of"),
    (dict(learning_rate=0.1), "unknown twin config key"),
    (dict(label_noise=0.2, shuffled_labels=True), "label_noise must be 0 when shuffled_labels"),
    (dict(momentum=0.9), "momentum=0.9 applies only to base_optimizer='momentum' \\(got base_optimizer='sgd'\\)"),
])
def test_bad_config_values_name_the_value(values, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TwinConfig.from_dict(values)


def test_momentum_is_recorded_only_where_it_applies():
    """Plain SGD and Adam record momentum 0 (they have none); the momentum base defaults to 0.9."""
    assert TwinConfig().momentum == TwinConfig(base_optimizer="adam").momentum == 0.0
    assert TwinConfig(base_optimizer="momentum").momentum == 0.9
    assert TwinConfig(base_optimizer="momentum", momentum=0.5).to_dict()["momentum"] == 0.5


def test_a_record_of_an_earlier_version_still_matches_its_config(tmp_path):
    """Run directories written before momentum defaulted by base hold momentum 0.9 for plain SGD: they still
    resume, and a finished one is still found complete (the 0.9 never applied)."""
    config = CONFIG.replace(base_optimizer="sgd", momentum=None, epochs=1)
    legacy = {**config.to_dict(), "momentum": 0.9}
    assert config.matches(legacy) and TwinConfig.from_record(legacy) == config
    assert not config.matches({**legacy, "lr": 0.2}) and not config.matches(None)
    with_momentum = CONFIG.replace(epochs=1)  # base momentum: its 0.9 is a setting, read as recorded
    assert not with_momentum.matches({**with_momentum.to_dict(), "momentum": 0.5})
    run_twin(config, tmp_path / "run", progress=False)
    store = Store(tmp_path / "run").lock()  # rewritten as that version wrote them, checksums and all
    store.put_json("config.json", legacy)
    store.put_json("summary.json", {**store.get_json("summary.json"), "config": legacy})
    store.unlock()
    assert run_twin(config, tmp_path / "run", progress=False).summary["config"]["momentum"] == 0.9


def test_config_round_trips_through_dict_and_toml(tmp_path):
    assert TwinConfig.from_dict(CONFIG.to_dict()) == CONFIG
    (tmp_path / "c.toml").write_text('optimizer = "usam"\nlr = 0.3\nseeds = [1, 2]\nbetas = [0.8, 0.9]\n')
    config = TwinConfig.from_toml(tmp_path / "c.toml")
    assert (config.optimizer, config.lr, config.seeds, config.betas) == ("usam", 0.3, (1, 2), (0.8, 0.9))
    (tmp_path / "bad.toml").write_text("lr = = 0.1\n")
    with pytest.raises(ValueError, match="is not valid TOML"):
        TwinConfig.from_toml(tmp_path / "bad.toml")


def test_off_a_terminal_progress_is_one_line_per_epoch(tmp_path, capsys):
    config = CONFIG.replace(epochs=2, log_every_steps=0)
    run_twin(config, tmp_path / "run")  # progress=None; pytest's captured stderr is not a terminal
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(" done")[0] for line in lines] == [
        "stablesam: stablesam-n_lr0.1_rho0.05: epoch 1/2", "stablesam: stablesam-n_lr0.1_rho0.05: epoch 2/2"]
    run_twin(config, tmp_path / "quiet", progress=False)
    assert capsys.readouterr().err == ""


def test_a_capped_run_logs_the_fraction_of_steps_its_cap_acted_on(tmp_path):
    """Logged every step, ``cap_active_mean`` is 1 exactly where that step's gamma exceeded the cap, else 0; an
    uncapped run logs no such metric."""
    config = CONFIG.replace(base_optimizer="sgd", momentum=None, log_every_steps=1, gamma_cap=0.9)
    metrics = run_twin(config, tmp_path / "capped", progress=False).metrics
    wide = metrics[metrics["twin"] == "S"].pivot_table(index=["pair", "step"], columns="metric", values="value")
    wide = wide.dropna(subset=["gamma_mean"])  # the start is logged before any step
    assert set(wide["cap_active_mean"].unique()) <= {0.0, 1.0}
    assert ((wide["gamma_mean"] > 0.9).astype(float) == wide["cap_active_mean"]).all()
    assert 0 < wide["cap_active_mean"].sum() < len(wide)  # the cap acted on some steps, not all: the test can tell
    uncapped = run_twin(config.replace(gamma_cap=None), tmp_path / "uncapped", progress=False).metrics
    assert "cap_active_mean" not in set(uncapped["metric"])

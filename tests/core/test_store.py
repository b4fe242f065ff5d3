"""The verified store (stablesam.core.store): checksum before visibility, validation on load, quarantine, debris."""

import json
import os

import pytest
import torch

from stablesam.core.store import MANIFEST, Store
from stablesam.core.validation import UsageError


def test_entries_round_trip_with_their_checksum_recorded(tmp_path):
    with Store(tmp_path / "s").lock() as store:
        store.put_json("a/result.json", {"x": [1, 2.5]})
        store.put_tensors("w.pt", {"w": torch.arange(3.0)})
        with store.put_file("table.csv") as tmp:
            tmp.write_text("a,b\n1,2\n")
        assert store.get_json("a/result.json") == {"x": [1, 2.5]}
        assert torch.equal(store.get_tensors("w.pt")["w"], torch.arange(3.0))
        assert store.get_bytes("table.csv") == b"a,b\n1,2\n"
        assert store.names("*") == ["table.csv", "w.pt"] and store.names("a/*") == ["a/result.json"]
        manifest = json.loads((tmp_path / "s" / MANIFEST).read_text())
        assert set(manifest) == {"a/result.json", "w.pt", "table.csv"}


def test_a_kill_between_the_checksum_and_the_rename_leaves_the_previous_version_trusted(tmp_path, monkeypatch):
    store = Store(tmp_path).lock()
    store.put_json("r.json", {"version": 1})
    real = os.replace

    def killed(src, dst):
        if str(dst).endswith("r.json"):
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.put_json("r.json", {"version": 2})
    monkeypatch.setattr(os, "replace", real)
    assert len(store.checksums("r.json")) == 2  # the new checksum first, the intact previous one kept
    assert Store(tmp_path).get_json("r.json") == {"version": 1}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.json")] == []


@pytest.mark.parametrize("damage, why", [
    (lambda p: p.write_bytes(b""), "zero bytes"),
    (lambda p: p.write_text('{"x": 2}'), "sha256 differs"),
])
def test_a_damaged_entry_is_quarantined_under_the_lock_and_skipped_without(tmp_path, capsys, damage, why):
    store = Store(tmp_path).lock()
    store.put_json("r.json", {"x": 1})
    damage(tmp_path / "r.json")
    assert Store(tmp_path).get_json("r.json") is None  # a reader without the lock: reported, left in place
    assert "skipped" in capsys.readouterr().err and (tmp_path / "r.json").exists()
    assert store.get_json("r.json") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and why in err[0] and "r.json.damaged" in err[0]
    assert (tmp_path / "r.json.damaged").exists() and not (tmp_path / "r.json").exists()
    assert store.checksums("r.json") == []


def test_a_file_the_store_did_not_write_is_unverified(tmp_path, capsys):
    (tmp_path / "foreign.json").write_text("{}")
    assert Store(tmp_path).lock().get_json("foreign.json") is None
    assert "no checksum recorded" in capsys.readouterr().err


def test_taking_the_lock_removes_debris_but_not_in_hidden_folders_or_nested_stores(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    debris = [tmp_path / ".r.json.abcd1234.tmp", tmp_path / "sub" / ".epoch_0001.pt.x1y2z3.pt"]
    kept = [tmp_path / ".gitignore", tmp_path / ".hidden" / ".x.json.abcd1234.tmp",
            tmp_path / "inner" / ".x.json.abcd1234.tmp", tmp_path / "inner" / ".lock"]
    for path in debris + kept:
        path.parent.mkdir(exist_ok=True)
        path.write_text("")
    Store(tmp_path).lock()
    assert not any(p.exists() for p in debris) and all(p.exists() for p in kept)
    assert len(capsys.readouterr().err.strip().splitlines()) == 2


def test_a_second_writer_is_one_usage_error(tmp_path):
    holder = Store(tmp_path, what="twin run").lock()
    with pytest.raises(UsageError, match="in use by another twin run"):
        Store(tmp_path, what="twin run").lock()
    holder.unlock()
    Store(tmp_path).lock().unlock()


def test_a_damaged_manifest_makes_every_entry_unverified(tmp_path, capsys):
    store = Store(tmp_path).lock()
    store.put_json("r.json", {"x": 1})
    (tmp_path / MANIFEST).write_text("[1, 2")
    fresh = Store(tmp_path)
    assert fresh.get_json("r.json") is None
    assert MANIFEST in capsys.readouterr().err


def test_a_batch_flushes_each_file_once_at_its_end_and_reads_verified_inside_it(tmp_path, monkeypatch):
    flushed = []
    fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: flushed.append(os.readlink(f"/proc/self/fd/{fd}")) or fsync(fd))
    store = Store(tmp_path).lock()
    store.put_json("one.json", 1)
    assert len(flushed) == 2  # one by one: the entry, then the manifest
    flushed.clear()
    with store.batched_sync():
        for value in range(3):
            store.put_json("summary.json", {"value": value})
            assert store.get_json("summary.json") == {"value": value}  # in place and verified at once
        store.put_bytes("old.bin", b"x")
        store.remove("old.bin")
        with store.batched_sync():  # nested: the same batch
            store.put_text("metrics.csv", "a\n1\n")
        assert flushed == []
    assert sorted(map(os.path.basename, flushed)) == [MANIFEST, "metrics.csv", "summary.json"]
    store.unlock()
    assert Store(tmp_path).get_json("summary.json") == {"value": 2}

"""Published versions: atomic appearance, the quality gate, pruning and rollback."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainer.publishing import registry

ROOT = Path(__file__).resolve().parents[2]


def fake_model(macro_f1: float, tag: str = ""):
    """A `write` callback producing a version folder with a report (no TensorFlow needed)."""

    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_text(f"model {tag}")
        (folder / registry.REPORT_FILE).write_text(json.dumps({"macro_f1": macro_f1}))

    return write


def publish(model_dir, macro_f1, tag="", keep=5):
    return registry.publish(model_dir, fake_model(macro_f1, tag), keep, {"source": "train"}, verify=None)


def visible(model_dir: Path) -> list[str]:
    return sorted(p.name for p in model_dir.iterdir() if not p.name.startswith("."))


def test_versions_count_up_from_one(tmp_path):
    model_dir = tmp_path / "faces"
    assert [publish(model_dir, 0.9), publish(model_dir, 0.91)] == [1, 2]
    assert registry.versions(model_dir) == [1, 2]
    assert visible(model_dir) == ["1", "2"]
    record = json.loads((model_dir / "2" / registry.PUBLISH_FILE).read_text())
    assert record["version"] == 2 and record["source"] == "train" and record["published_at"] > 0


def test_gate_refuses_a_worse_model_and_accepts_a_better_one(tmp_path):
    model_dir = tmp_path / "faces"
    registry.check_gate(model_dir, 0.1, tolerance=0.0)  # nothing published: anything goes
    publish(model_dir, 0.90)
    with pytest.raises(registry.GateRefused, match="0.8000.*0.9000"):
        registry.check_gate(model_dir, 0.80, tolerance=0.05)
    registry.check_gate(model_dir, 0.86, tolerance=0.05)  # within the tolerance
    registry.check_gate(model_dir, 0.95, tolerance=0.0)  # better


def test_failed_write_leaves_no_version_and_no_litter(tmp_path):
    model_dir = tmp_path / "faces"
    publish(model_dir, 0.9)

    def half_written(folder: Path) -> None:
        folder.mkdir()
        (folder / "saved_model.pb").write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.publish(model_dir, half_written, 5, {}, verify=None)
    assert registry.versions(model_dir) == [1]
    assert sorted(os.listdir(model_dir)) == [registry.LOCK_FILE, "1"]


def test_killed_publish_leaves_no_visible_version(tmp_path):
    """A publisher killed mid-write leaves only a hidden folder, removed by the next publish."""
    model_dir = tmp_path / "faces"
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from trainer.publishing import registry
        def write(folder):
            folder.mkdir()
            (folder / "saved_model.pb").write_text("partial")
            print("writing", flush=True)
            time.sleep(60)
        registry.publish(Path(sys.argv[1]), write, 5, {}, verify=None)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(model_dir)], stdout=subprocess.PIPE,
                               text=True, cwd=ROOT)
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert registry.versions(model_dir) == [] and visible(model_dir) == []
    assert any(p.name.startswith(registry.TEMP_PREFIX) for p in model_dir.iterdir())
    assert publish(model_dir, 0.9) == 1
    assert sorted(os.listdir(model_dir)) == [registry.LOCK_FILE, "1"]


def test_keeps_the_newest_k_versions(tmp_path):
    model_dir = tmp_path / "faces"
    for score in (0.1, 0.2, 0.3, 0.4):
        publish(model_dir, score, keep=2)
    assert registry.versions(model_dir) == [3, 4]
    assert sorted(os.listdir(model_dir)) == [registry.LOCK_FILE, "3", "4"]


def test_rollback_republishes_the_previous_version_as_newest(tmp_path):
    model_dir = tmp_path / "faces"
    publish(model_dir, 0.9, "good")
    publish(model_dir, 0.7, "bad")
    assert registry.rollback(model_dir, keep=5, verify=None) == (3, 1)
    assert (model_dir / "3" / "saved_model.pb").read_text() == "model good"
    record = json.loads((model_dir / "3" / registry.PUBLISH_FILE).read_text())
    assert record["restored_from"] == 1 and record["source"] == "rollback"
    with pytest.raises(registry.NothingToRollBack):
        registry.rollback(model_dir, keep=5, verify=None)  # 3 is version 1 again: nothing older


def test_rollback_steps_back_one_model_each_time(tmp_path):
    model_dir = tmp_path / "faces"
    for tag in ("a", "b", "c"):
        publish(model_dir, 0.9, tag)
    assert registry.rollback(model_dir, keep=5, verify=None) == (4, 2)
    assert registry.rollback(model_dir, keep=5, verify=None) == (5, 1)
    assert (model_dir / "5" / "saved_model.pb").read_text() == "model a"


def test_rollback_with_one_version_is_refused(tmp_path):
    model_dir = tmp_path / "faces"
    with pytest.raises(registry.NothingToRollBack):
        registry.rollback(model_dir, keep=5, verify=None)
    publish(model_dir, 0.9)
    with pytest.raises(registry.NothingToRollBack):
        registry.rollback(model_dir, keep=5, verify=None)
    assert registry.versions(model_dir) == [1]


def test_an_incomplete_version_takes_a_number_but_is_never_the_gate(tmp_path):
    model_dir = tmp_path / "faces"
    publish(model_dir, 0.9)
    (model_dir / "2").mkdir()  # a half-copied version: no saved_model.pb
    registry.check_gate(model_dir, 0.89, tolerance=0.05)  # against version 1, the newest complete one
    assert publish(model_dir, 0.95) == 3

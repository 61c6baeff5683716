"""The pre-publish check (trainer/publishing/servable.py) against the TF Serving stand-in:
exports TF Serving would refuse are refused by both, one it loads passes both; and `publish`
with a broken export publishes nothing and exits 3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from exported_models import BadSignatures, publish as export_version, tiny_model, tiny_info
from facecore.tfserving_api import serving_api
from tfserving_standin.batching import Batching
from tfserving_standin.server import StandIn
from trainer.commands import main as trainer_main
from trainer.publishing import registry
from trainer.publishing.export import WARMUP_FILE
from trainer.publishing.loadcheck import FreshProcessCheck, NotServable, check_in_fresh_process
from trainer.publishing.servable import check_version

pytestmark = pytest.mark.slow


def save(folder: Path, signature: str, warmup: dict) -> Path:
    """A SavedModel with `good` as serving_default and `signature`, and one warm-up request for
    `signature` with `warmup` as its inputs (the project's export warms up every signature)."""
    module = BadSignatures()
    signatures = {"serving_default": module.good}
    if signature != "serving_default":
        signatures[signature] = getattr(module, signature)
    tf.saved_model.save(module, str(folder), signatures=signatures)
    api = serving_api()
    spec = api.message("tensorflow.serving.ModelSpec")(name="m", signature_name=signature)
    entry = api.message("tensorflow.serving.PredictionLog")(
        predict_log=api.message("tensorflow.serving.PredictLog")(request=api.predict_request(spec, warmup)))
    (folder / "assets.extra").mkdir()
    with tf.io.TFRecordWriter(str(folder / "assets.extra" / WARMUP_FILE)) as writer:
        writer.write(entry.SerializeToString())
    return folder


x2 = {"x": np.zeros(2, np.float32)}
BROKEN = {  # name: (signature, warm-up inputs, the check's reason, the stand-in's error)
    "no input": ("no_input", {}, "has no input", "Batching Run() must have at least one input tensor"),
    "output without batch dimension": ("scalar_output", x2, "'y' is a scalar",
                                       "Batched output tensor has 0 dimensions"),
    "output batch of another size": ("wrong_batch", x2, "not a 0th dimension of 2",
                                     "Batched output tensor's 0th dimension does not equal"),
    "inputs of different batches": ("two_inputs", {"a": np.zeros(2, np.float32), "b": np.zeros(3, np.float32)},
                                    "0th dimensions differ", "Batching Run() input tensors must have equal 0th"),
    "warm-up request that fails": ("serving_default", {"x": np.zeros((2, 3), np.float32)}, "has shape [2, 3]",
                                   "has shape [2, 3], the signature expects [-1]"),
}


def stand_in_error(version_dir: Path, tmp_path: Path) -> str | None:
    """The error the stand-in (batching on, warm-up on) fails the version's load with, or None."""
    base = tmp_path / "served"
    shutil.copytree(version_dir, base / "1")
    server = StandIn("m", base, poll_s=0, batching=Batching())
    server.start()
    server.stop()
    error = server.versions.first_load.error
    return None if error is None else error.message


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_exports_are_refused_by_the_check_and_by_the_stand_in(case, tmp_path):
    signature, warmup, reason, serving_error = BROKEN[case]
    version = save(tmp_path / "export", signature, warmup)
    with pytest.raises(NotServable, match=reason.replace("[", r"\[").replace("]", r"\]")):
        check_version(version)
    assert serving_error in (stand_in_error(version, tmp_path) or "loaded")


def test_a_project_export_passes_the_check_and_loads_in_the_stand_in(tmp_path):
    version = export_version(tiny_model(3), tiny_info(("a", "b", "c")), tmp_path / "faces", 1)
    assert check_version(version) == 4  # two batch sizes of `serving_default`, one `explain`, one `metadata`
    assert stand_in_error(version, tmp_path) is None
    check_in_fresh_process(version)


def test_publish_refuses_a_broken_export_and_publishes_nothing(tmp_path, capsys):
    model_dir = tmp_path / "models" / "faces"
    registry.publish(model_dir, lambda folder: shutil.copytree(save(tmp_path / "good", "serving_default", x2), folder),
                     5, {}, verify=check_in_fresh_process)
    broken = save(tmp_path / "broken", "scalar_output", x2)
    with pytest.raises(NotServable, match="'y' is a scalar.*nothing was published"):
        registry.publish(model_dir, lambda folder: shutil.copytree(broken, folder), 5, {},
                         verify=check_in_fresh_process)
    assert registry.versions(model_dir) == [1]
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(registry.TEMP_PREFIX)] == []
    assert trainer_main(["verify", "--version", str(broken)]) == 3
    assert "refused: signature 'scalar_output'" in capsys.readouterr().err


def test_a_check_started_ahead_checks_the_folder_written_after_it_started(tmp_path):
    """The registry starts the check's process before the export (it loads TensorFlow meanwhile):
    the folder does not exist yet when it starts; a broken one is refused with its reason."""
    with FreshProcessCheck() as verify:
        registry.publish(tmp_path / "faces", lambda folder: shutil.copytree(save(tmp_path / "good", "serving_default",
                                                                                x2), folder), 5, {}, verify=verify)
    assert registry.versions(tmp_path / "faces") == [1]
    with FreshProcessCheck() as verify, pytest.raises(NotServable, match="'y' is a scalar.*nothing was published"):
        verify(save(tmp_path / "broken", "scalar_output", x2))


def test_a_check_never_given_a_folder_ends_its_process(tmp_path):
    """Publishing refused before the check (the gate, a failed export): closing ends the process."""
    check = FreshProcessCheck()
    with pytest.raises(RuntimeError, match="export failed"), check:
        raise RuntimeError("export failed")
    assert check.exited


def test_rollback_refuses_a_version_tf_serving_would_not_load(tmp_path):
    model_dir = tmp_path / "faces"
    shutil.copytree(save(tmp_path / "broken", "no_input", {}), model_dir / "1")
    shutil.copytree(save(tmp_path / "good", "serving_default", x2), model_dir / "2")
    (model_dir / "2" / registry.PUBLISH_FILE).write_text(json.dumps({"version": 2}))
    with pytest.raises(NotServable, match="has no input"):
        registry.rollback(model_dir, keep=5, verify=check_in_fresh_process)
    assert registry.versions(model_dir) == [1, 2]

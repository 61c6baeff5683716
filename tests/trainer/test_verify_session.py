"""`trainer verify` also runs every signature the way TF Serving does: the `serve` MetaGraph loaded
into a TensorFlow session, fed and fetched by the tensor names its SignatureDefs give
(SavedModelBundle and predict_util.cc), not through tf.saved_model.load's functions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tensorflow.core.protobuf import saved_model_pb2

from exported_models import publish, tiny_info, tiny_model
from facecore.modelinfo import SERVING_SIGNATURE
from facecore.versions import SAVED_MODEL_FILE
from trainer.commands import main as trainer_main
from trainer.publishing.loadcheck import NotServable, check_session
from trainer.publishing.servable import check_version

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A version exported by the project: serving_default, metadata (and whatever else it exports)."""
    return publish(tiny_model(3), tiny_info(("a", "b", "c")), tmp_path_factory.mktemp("faces"), 1)


def renamed_output(exported: Path, folder: Path) -> Path:
    """A copy of `exported` whose serving SignatureDef fetches a tensor its graph does not have."""
    shutil.copytree(exported, folder)
    saved = saved_model_pb2.SavedModel.FromString((folder / SAVED_MODEL_FILE).read_bytes())
    outputs = saved.meta_graphs[0].signature_def[SERVING_SIGNATURE].outputs
    next(iter(outputs.values())).name = "no_such_tensor:0"
    (folder / SAVED_MODEL_FILE).write_bytes(saved.SerializeToString())
    return folder


def test_a_project_export_runs_in_a_session(exported, capsys):
    assert check_session(exported) >= 2  # serving_default and metadata at least
    assert trainer_main(["verify", "--version", str(exported)]) == 0
    assert "signatures run in a TensorFlow session" in capsys.readouterr().out


def test_a_signature_only_the_session_path_fails_is_refused(exported, tmp_path, capsys):
    broken = renamed_output(exported, tmp_path / "1")
    check_version(broken)  # tf.saved_model.load's functions never read the SignatureDef's tensor names
    with pytest.raises(NotServable, match="signature 'serving_default' fails in a TensorFlow session"):
        check_session(broken)
    assert trainer_main(["verify", "--version", str(broken)]) == 3
    assert "refused: signature 'serving_default' fails in a TensorFlow session" in capsys.readouterr().err

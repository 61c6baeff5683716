"""The metadata signature must pass TF Serving's batching: a model exported before it took an
input (an input-less `metadata`, refused by batching) is reported, never half-served."""

from __future__ import annotations

import tensorflow as tf

from exported_models import tiny_info
from service.local import read_signature_defs
from service.signature import signature_problems

INFO = tiny_info(("ann", "ben"))


class OldExport(tf.Module):
    """The export contract before batching: `metadata` without inputs, a scalar output."""

    @tf.function(input_signature=[tf.TensorSpec([None, 64, 64, 1], tf.float32, name="faces")])
    def serve(self, faces):
        count = tf.shape(faces)[0]
        return {"probabilities": tf.fill([count, 2], 0.5), "embedding": tf.zeros([count, 4])}

    @tf.function(input_signature=[])
    def metadata(self):
        return {"model_info": tf.constant(INFO.to_json())}


def test_input_less_metadata_signature_is_named(tmp_path):
    module = OldExport()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve,
                                                             "metadata": module.metadata})
    problems = signature_problems(read_signature_defs(tmp_path), INFO)
    assert any("'metadata' input 'rows' is missing" in problem for problem in problems), problems
    assert any("'metadata' output 'model_info' has shape []" in problem for problem in problems), problems


def test_exported_model_has_no_problem(exported):
    from facecore.modelinfo import read_model_info

    loaded = tf.saved_model.load(str(exported["v1"]))
    assert signature_problems(read_signature_defs(exported["v1"]), read_model_info(loaded)) == []

"""Training config sections, schedules and strategy choice."""

import json

import pytest

from trainer.config import TrainerConfig, load_config
from trainer.configs import TINY_CONFIG


def test_defaults_and_tiny_config_load():
    default = load_config()
    assert default == TrainerConfig()
    tiny = load_config(TINY_CONFIG)
    assert tiny.preprocess.input_size == 32 and tiny.train.epochs == 2
    assert tiny.train.optimizer == default.train.optimizer  # only what the file names changes


def test_overrides_on_top_of_a_base_config():
    base = load_config(TINY_CONFIG)
    config = load_config(overrides=["train.optimizer=sgd", "train.learning_rate=0.05"], base=base)
    assert config.train.optimizer == "sgd" and config.train.learning_rate == 0.05
    assert config.model.width == base.model.width


@pytest.mark.parametrize("override, words", [
    ("train.optimizer=rmsprop", "optimizer"),
    ("train.schedule=linear", "schedule"),
    ("train.strategy=tpu", "strategy"),
    ("model.dropout=1.5", "dropout"),
    ("augment.rotation=2", "augment"),
    ("publish.model_name=../x", "model_name"),
    ("train.nonsense=1", "unknown key"),
])
def test_bad_values_are_refused_by_name(override, words):
    with pytest.raises(ValueError, match=words):
        load_config(overrides=[override])


def test_config_survives_json():
    from trainer.config import from_dict

    config = load_config(TINY_CONFIG)
    assert from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("schedule", ["constant", "step", "exponential", "inverse_time", "cosine"])
def test_each_schedule_starts_near_the_rate_and_does_not_grow_after_warm_up(schedule):
    from trainer.model.optimizers import build_optimizer

    config = load_config(overrides=[f"train.schedule={schedule}", "train.epochs=10", "train.decay_epochs=2",
                                    "train.warmup_epochs=1"]).train
    optimizer = build_optimizer(config, steps_per_epoch=10)
    rate = optimizer._learning_rate
    at = (lambda step: float(rate(step))) if callable(rate) else (lambda step: float(rate))
    assert at(10) == pytest.approx(config.learning_rate, rel=0.6)
    assert at(99) <= at(10) + 1e-12
    if schedule == "step":
        assert at(25) == pytest.approx(config.learning_rate * 0.5)  # one period of 20 steps done


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizers(name):
    from trainer.model.optimizers import build_optimizer

    optimizer = build_optimizer(load_config(overrides=[f"train.optimizer={name}"]).train, 10)
    assert type(optimizer).__name__.lower() == name


def test_strategy_follows_tf_config(monkeypatch):
    from trainer.model.devices import strategy_name

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert strategy_name("auto") == "one_device"
    cluster = {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    assert strategy_name("auto") == "multi_worker"
    assert strategy_name("one_device") == "one_device"


TWO = ["localhost:1", "localhost:2"]


@pytest.mark.parametrize("tf_config, workers, chief", [
    (None, 1, True),
    ({"cluster": {"worker": TWO}, "task": {"type": "worker", "index": 0}}, 2, True),
    ({"cluster": {"worker": TWO}, "task": {"type": "worker", "index": 1}}, 2, False),
    ({"cluster": {"chief": ["c:1"], "worker": TWO}, "task": {"type": "chief", "index": 0}}, 3, True),
    ({"cluster": {"chief": ["c:1"], "worker": TWO}, "task": {"type": "worker", "index": 0}}, 3, False),
])
def test_the_chief_is_tensorflows(tf_config, workers, chief):
    from trainer.model.cluster import this_task

    task = this_task({"TF_CONFIG": json.dumps(tf_config)} if tf_config else {})
    assert (task.workers, task.chief) == (workers, chief)


def test_values_of_the_wrong_type_are_refused_by_name():
    with pytest.raises(ValueError, match=r"\[train\] epochs must be of type int"):
        load_config(overrides=["train.epochs=ten"])
    assert load_config(overrides=["train.learning_rate=1"]).train.learning_rate == 1.0


def test_environment_names_the_config_and_the_model():
    """Containers configure the trainer through TRAINER_CONFIG (file or packaged name) and MODEL_NAME."""
    by_name = load_config(environ={"TRAINER_CONFIG": "tiny", "MODEL_NAME": "people"})
    assert by_name == load_config(TINY_CONFIG, ["publish.model_name=people"], environ={})
    by_path = load_config(environ={"TRAINER_CONFIG": str(TINY_CONFIG)})
    assert by_path.preprocess.input_size == 32 and by_path.publish.model_name == "faces"
    flag_wins = load_config(overrides=["publish.model_name=other"], environ={"MODEL_NAME": "people"})
    assert flag_wins.publish.model_name == "other"


def test_unknown_trainer_config_names_the_choices():
    with pytest.raises(FileNotFoundError, match=r"TRAINER_CONFIG='huge'.*quick.*tiny"):
        load_config(environ={"TRAINER_CONFIG": "huge"})


def test_booleans_take_the_toml_spelling_and_pythons():
    for text, value in (("true", True), ("false", False), ("True", True), ("False", False)):
        config = load_config(overrides=[f"preprocess.align_eyes={text}", "preprocess.align_landmarks=false"])
        assert config.preprocess.align_eyes is value
    with pytest.raises(ValueError, match="align_eyes must be of type bool"):
        load_config(overrides=["preprocess.align_eyes=yes", "preprocess.align_landmarks=false"])


def test_landmark_alignment_is_the_descriptors_and_the_scratch_configs_turn_it_off():
    from trainer.configs import CONFIG_DIR

    with pytest.raises(ValueError, match="align_landmarks is the descriptor's alignment.*scratch.toml"):
        load_config(overrides=["model.backbone=scratch"], environ={})
    for name in ("scratch", "tiny"):
        assert not load_config(CONFIG_DIR / f"{name}.toml", environ={}).preprocess.align_landmarks
    default = load_config(environ={}).preprocess
    assert default.align_landmarks and default.input_size == 232 and default.crop_margin == 0.3

"""Early stopping keeps its patience when an interrupted run is resumed."""

from __future__ import annotations

import pytest

HISTORY = "epoch,loss,val_loss\n0,2.0,1.0\n1,1.5,0.5\n2,1.2,0.6\n3,1.1,0.7\n4,1.0,0.9\n"


@pytest.fixture
def resumed(tmp_path):
    """An early-stopping callback on a run resumed at epoch 4 (epoch 4 was logged, not backed up)."""
    import keras

    from trainer.model.callbacks import ResumableEarlyStopping

    def make(initial_epoch: int, patience: int = 3):
        history = tmp_path / "history.csv"
        history.write_text(HISTORY)
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model._initial_epoch = initial_epoch  # what BackupAndRestore sets when it restores
        model.stop_training = False
        stopping = ResumableEarlyStopping(history, patience=patience)
        stopping.set_model(model)
        stopping.on_train_begin()
        return stopping, model

    return make


def test_resumed_run_remembers_best_loss_and_epochs_waited(resumed):
    stopping, model = resumed(initial_epoch=4)
    assert stopping.best == 0.5 and stopping.best_epoch == 1
    assert stopping.wait == 2  # epochs 2 and 3 did not improve; epoch 4 is redone
    stopping.on_epoch_end(4, {"val_loss": 0.8})
    assert model.stop_training  # 3 epochs without improvement, as an uninterrupted run would


def test_resumed_run_resets_patience_on_improvement(resumed):
    stopping, model = resumed(initial_epoch=4)
    stopping.on_epoch_end(4, {"val_loss": 0.4})
    assert not model.stop_training and stopping.wait == 0 and stopping.best == 0.4


def test_fresh_run_ignores_an_old_history(resumed):
    stopping, model = resumed(initial_epoch=0)
    assert stopping.best is None and stopping.wait == 0
    stopping.on_epoch_end(0, {"val_loss": 3.0})
    assert not model.stop_training

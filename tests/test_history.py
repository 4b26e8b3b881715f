from tbviz.core.history import History, as_history, base_name, is_validation, metric_direction


def test_directions_follow_the_metric_name():
    assert metric_direction("loss") == "min"
    assert metric_direction("val_loss") == "min"
    assert metric_direction("val_mean_absolute_error") == "min"
    assert metric_direction("accuracy") == "max"
    assert metric_direction("val_sparse_top_k_categorical_accuracy") == "max"
    assert metric_direction("auc") == "max"
    assert metric_direction("something_unknown") == "min"


def test_validation_keys_pair_with_training_keys():
    h = History.from_keras(
        {"accuracy": [0.5, 0.6], "loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "val_auc": [0.7, 0.8]}
    )
    assert h.metric_names() == ["loss", "accuracy", "auc"]
    pairs = {p.name: p for p in h.pairs()}
    assert pairs["loss"].train.values == [1.0, 0.8]
    assert pairs["loss"].validation.values == [1.1, 0.9]
    assert pairs["accuracy"].validation is None
    assert pairs["auc"].train is None
    assert base_name("val_x") == "x" and is_validation("val_x") and not is_validation("val_")


def test_metric_that_appears_late_keeps_its_epochs():
    h = History()
    h.record(0, {"loss": 1.0})
    h.record(1, {"loss": 0.5, "extra": 3.0, "note": "not a number"})
    assert h["extra"].epochs == [1]
    assert "note" not in h
    assert h.epochs() == [0, 1]


def test_re_recording_an_epoch_replaces_it_and_later_ones():
    h = History()
    for epoch, value in enumerate([1.0, 0.9, 0.8]):
        h.record(epoch, {"loss": value})
    h.record(1, {"loss": 0.7})  # a resumed run starting again at epoch 1
    assert h["loss"].epochs == [0, 1]
    assert h["loss"].values == [1.0, 0.7]


def test_accepts_keras_history_objects():
    class KerasHistory:  # what keras.callbacks.History holds after fit()
        def __init__(self):
            self.history = {"loss": [1.0, 0.5]}

    assert as_history(KerasHistory()).to_keras() == {"loss": [1.0, 0.5]}

"""tbviz's tags and plugin metadata agree with TensorBoard's own plugins."""


def test_hparams_session_tag_matches_tensorboard():
    from tensorboard.plugins.hparams import metadata as hparams_metadata

    from tbviz.logdir import metadata

    assert metadata.HPARAMS_SESSION_TAG == hparams_metadata.SESSION_START_INFO_TAG

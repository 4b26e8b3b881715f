"""tbviz's tags and plugin metadata agree with TensorBoard's own plugins."""

from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.util import tensor_util

from tbviz.logdir import metadata, summaries
from tbviz.logdir.summaries import hparams_value


def test_hparams_constants_match_tensorboard():
    assert metadata.HPARAMS_SESSION_TAG == hparams_metadata.SESSION_START_INFO_TAG
    assert metadata.HPARAMS_PLUGIN == hparams_metadata.PLUGIN_NAME
    assert metadata.HPARAMS_DATA_VERSION == hparams_metadata.PLUGIN_DATA_VERSION


def test_hparams_values_parse_with_tensorboards_own_reader():
    session = hparams_value({"lr": 0.01, "optimizer": "adam"})
    assert session.tag == metadata.HPARAMS_SESSION_TAG
    content = session.metadata.plugin_data.content
    info = hparams_metadata.parse_session_start_info_plugin_data(content)
    assert info.hparams["lr"].number_value == 0.01
    assert summaries.read_hparams(content) == {"lr": 0.01, "optimizer": "adam"}


def test_scalars_are_what_tensorboards_scalar_summary_writes():
    ours = summaries.scalar_values({"epoch_loss": 0.25})[0]
    theirs = scalar_summary.scalar_pb("epoch_loss", 0.25).value[0]
    assert ours.tensor == theirs.tensor
    assert ours.metadata.plugin_data == theirs.metadata.plugin_data
    text = summaries.text_value("t", "hi", "d").tensor
    assert tensor_util.make_ndarray(text) == b"hi"

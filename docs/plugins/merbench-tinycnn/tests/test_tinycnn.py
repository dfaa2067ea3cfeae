"""The plugin passes merbench's contract kit: the one test a plugin needs to start with."""

import merbench_tinycnn

from merbench.testing import check_plugin


def test_plugin_passes_the_merbench_contract():
    check_plugin(merbench_tinycnn)

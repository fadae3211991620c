"""prep.core.environ.environ_kept: what a stage sets for a while is put back, error or not."""
import os

import pytest

from prep.core.environ import environ_kept


def test_set_and_unset_variables_come_back_even_after_an_error(monkeypatch):
    monkeypatch.setenv("TS_KEPT_SET", "before")
    monkeypatch.delenv("TS_KEPT_UNSET", raising=False)
    with pytest.raises(RuntimeError):
        with environ_kept("TS_KEPT_SET", "TS_KEPT_UNSET"):
            os.environ["TS_KEPT_SET"] = "during"
            os.environ["TS_KEPT_UNSET"] = "during"
            raise RuntimeError("a stage failed")
    assert os.environ["TS_KEPT_SET"] == "before"
    assert "TS_KEPT_UNSET" not in os.environ
    with environ_kept("TS_KEPT_SET"):
        del os.environ["TS_KEPT_SET"]
    assert os.environ["TS_KEPT_SET"] == "before"

# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from ignite.engine import Engine

from monai_d3gm.handlers import LossLogger


def test_loss_logger_appends_rows(tmp_path):
    engine = Engine(lambda e, b: {"loss": float(b)})
    LossLogger(tmp_path / "log" / "loss.csv", interval=2).attach(engine)
    engine.run([1.0, 2.0, 3.0, 4.0], max_epochs=1)
    engine2 = Engine(lambda e, b: {"loss": float(b)})
    LossLogger(tmp_path / "log" / "loss.csv", interval=2).attach(engine2)
    engine2.run([5.0, 6.0], max_epochs=1)
    lines = (tmp_path / "log" / "loss.csv").read_text().splitlines()
    assert lines == ["iteration,loss", "2,2", "4,4", "2,6"]

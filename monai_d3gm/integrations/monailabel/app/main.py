# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Sample MONAI Label app: every monai-d3gm bundle found under ``--conf bundles <folder>`` becomes an infer model.

    APP=$(python -c "from monai_d3gm.integrations.monailabel import sample_app_dir; print(sample_app_dir())")
    monailabel start_server --app "$APP" --studies /path/to/studies --conf bundles /path/to/monai-d3gm/bundles

See ``docs/slicer.md`` for 3D Slicer.
"""

from __future__ import annotations

import logging
from pathlib import Path

from monailabel.interfaces.app import MONAILabelApp

from monai_d3gm.integrations.monailabel import BUNDLE_OUTPUTS, D3GMInferTask

logger = logging.getLogger(__name__)


class MyApp(MONAILabelApp):
    """Serves the monai-d3gm bundles of ``conf["bundles"]`` (MRI bundles as 3-D models, photo bundles as 2-D)."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.bundles = Path(conf.get("bundles", Path(app_dir) / "bundles"))
        self.models = [m.strip() for m in conf.get("models", ",".join(BUNDLE_OUTPUTS)).split(",") if m.strip()]
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="monai-d3gm",
            description="D³GM image restoration: MRI reconstruction, MRI super-resolution, deraining, dehazing",
            version="0.1.0",
        )

    def init_infers(self):
        infers = {}
        for name in self.models:
            task = D3GMInferTask(self.bundles / name, dimension=3 if name.startswith("mri_") else 2)
            if task.is_valid():
                infers[name] = task
            else:
                logger.warning(f"skipping {name}: no bundle with models/model.pt under {self.bundles}")
        return infers

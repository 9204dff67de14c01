"""Helpers for the model-zoo-style bundle tests: build ConfigWorkflows and run MONAI's bundle commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from monai.bundle import ConfigWorkflow

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "configs" / "schema" / "metadata_schema.json"

# config lists, relative to a bundle folder, as the bundle READMEs give them
WORKFLOWS = {
    "train": ["configs/shared/base_train.json", "configs/train.json"],
    "evaluate": [
        "configs/shared/base_train.json",
        "configs/train.json",
        "configs/shared/base_evaluate.json",
        "configs/evaluate.json",
    ],
    "inference": ["configs/shared/base_inference.json", "configs/inference.json"],
    "multi_gpu_train": [
        "configs/shared/base_train.json",
        "configs/train.json",
        "configs/shared/base_multi_gpu_train.json",
        "configs/multi_gpu_train.json",
    ],
}


class Bundle:
    def __init__(self, name: str) -> None:
        self.root = REPO / "bundles" / name
        self.meta = self.root / "configs" / "metadata.json"
        self.logging = self.root / "configs" / "logging.conf"

    def configs(self, workflow: str) -> list[str]:
        return [str(self.root / f) for f in WORKFLOWS[workflow]]

    def workflow(self, workflow: str, workflow_type: str, **overrides) -> ConfigWorkflow:
        return ConfigWorkflow(
            config_file=self.configs(workflow),
            meta_file=str(self.meta),
            logging_file=str(self.logging),
            workflow_type=workflow_type,
            **overrides,
        )

    def run(self, workflow: str, workflow_type: str, **overrides) -> ConfigWorkflow:
        """initialize -> check_properties -> run -> finalize, as the model zoo's bundle tests do."""
        flow = self.workflow(workflow, workflow_type, **overrides)
        flow.initialize()
        assert flow.check_properties() in (None, [])
        flow.run()
        flow.finalize()
        return flow

    def cli(self, *args: str, launcher: tuple[str, ...] = (sys.executable, "-m", "monai.bundle"), timeout=600):
        """Run a MONAI bundle command from inside the bundle folder, as a user would."""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(
            [*launcher, *args], cwd=self.root, capture_output=True, text=True, env=env, timeout=timeout
        )


def config_list(files: list[str]) -> str:
    return "[" + ",".join(f"'{f}'" for f in files) + "]"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, request):
    """A bundle trained for a few iterations on a tiny synthetic dataset in a temporary bundle_root."""
    bundle = Bundle(request.module.BUNDLE)
    root = tmp_path_factory.mktemp(request.module.BUNDLE)
    bundle.run("train", "train", bundle_root=str(root), **request.module.TINY)
    return bundle, root

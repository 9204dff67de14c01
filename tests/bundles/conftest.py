"""Helpers for the model-zoo-style bundle tests: build ConfigWorkflows and run MONAI's bundle commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from monai.bundle import ConfigWorkflow

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "configs" / "schema" / "meta_schema_20240725.json"

# config lists, relative to a bundle folder, as the bundle READMEs give them
WORKFLOWS = {
    "train": ["configs/train.json"],
    "evaluate": ["configs/train.json", "configs/evaluate.json"],
    "inference": ["configs/inference.json"],
    "multi_gpu_train": ["configs/train.json", "configs/multi_gpu_train.json"],
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

    def run_cli(self, workflow: str, bundle_root, overrides: dict | None = None, nproc: int | None = None):
        """``python -m monai.bundle run`` of a workflow from the bundle folder, or ``torchrun`` with ``nproc``
        processes; ``overrides`` become ``--key=<json>`` arguments."""
        args = ["run", "--config_file", config_list(self.configs(workflow)), "--meta_file", str(self.meta)]
        args += ["--logging_file", str(self.logging), "--bundle_root", str(bundle_root)]
        args += [f"--{k}={json.dumps(v, separators=(',', ':'))}" for k, v in (overrides or {}).items()]
        if nproc is None:
            return self.cli(*args)
        torchrun = (sys.executable, "-m", "torch.distributed.run")
        return self.cli("--standalone", f"--nproc_per_node={nproc}", "-m", "monai.bundle", *args, launcher=torchrun)


def check_resume(bundle: Bundle, root: Path, tiny: dict, capsys) -> None:
    """A second training run to 2 epochs continues after the 1 epoch done, and keeps only the newest checkpoint."""
    bundle.run("train", "train", bundle_root=str(root), **{**tiny, "num_epochs": 2})
    assert "epoch 1 of 2 done" in capsys.readouterr().out  # the bundle's logging.conf logs to stdout
    assert (root / "models" / "checkpoint_epoch=2.pt").exists()
    assert not (root / "models" / "checkpoint_epoch=1.pt").exists()


def check_ddp(bundle: Bundle, root: Path, tiny: dict) -> None:
    """torchrun with 2 CPU processes (gloo) trains, saves the model, and logs progress from rank 0 only."""
    result = bundle.run_cli("multi_gpu_train", root, tiny, nproc=2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (root / "models" / "model.pt").exists()
    assert result.stdout.count("finished after") == 1


def config_list(files: list[str]) -> str:
    return "[" + ",".join(f"'{f}'" for f in files) + "]"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, request):
    """A bundle trained for a few iterations on a tiny synthetic dataset in a temporary bundle_root."""
    bundle = Bundle(request.module.BUNDLE)
    root = tmp_path_factory.mktemp(request.module.BUNDLE)
    bundle.run("train", "train", bundle_root=str(root), **request.module.TINY)
    return bundle, root

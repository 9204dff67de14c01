"""Packaging hook: the wheel carries medunet's bundles as ``medunet/bundles/<name>``.

The bundles live in the repository's top-level ``bundles/`` folder (the MONAI model zoo's shape); this copies what
each one ships (its licence, configs and docs: never data, checkpoints or outputs) into the built package, where
``medunet.bundle.files.bundles_dir()`` finds them. Everything else is declared in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("LICENSE", "configs", "docs")


class BuildWithBundles(build_py):
    def run(self):
        super().run()
        source = Path(__file__).resolve().parent / "bundles"
        target = Path(self.build_lib) / "medunet" / "bundles"
        for bundle in sorted(p for p in source.iterdir() if (p / "configs" / "metadata.json").is_file()):
            for name in SHIPPED:
                path = bundle / name
                if path.is_dir():
                    ignore = shutil.ignore_patterns(".*", "__pycache__")
                    shutil.copytree(path, target / bundle.name / name, ignore=ignore, dirs_exist_ok=True)
                elif path.is_file():
                    (target / bundle.name).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / bundle.name / name)


setup(cmdclass={"build_py": BuildWithBundles})

"""Write each bundle's config files from the pieces in the repository's ``configs/`` folder.

A bundle folder must be complete on its own (the MONAI model zoo's shape): ``configs/inference.json`` and
``configs/train.json`` each run alone, ``configs/evaluate.json`` and ``configs/multi_gpu_train.json`` are merged over
``configs/train.json``. What every medunet bundle shares (the trainer and its handlers, resumable checkpoints,
validation, the evaluation report, DDP) is still written once, in ``configs/shared/``; what is a bundle's own is in
``configs/<bundle>/``; the files in ``bundles/<bundle>/configs/`` are generated from the two::

    configs/shared/train.json            + configs/<bundle>/train.json            -> bundles/<bundle>/configs/train.json
    configs/shared/inference.json        + configs/<bundle>/inference.json        -> .../inference.json
    configs/shared/evaluate.json         + configs/<bundle>/evaluate.json         -> .../evaluate.json
    configs/shared/multi_gpu_train.json  + configs/<bundle>/multi_gpu_train.json  -> .../multi_gpu_train.json
    configs/shared/logging.conf                                                   -> .../logging.conf

``train.json`` and ``inference.json`` are merged as MONAI merges a list of config files (``--config_file
"['a.json','b.json']"``: ``#`` paths reach into nested entries, ``+key`` appends to a list or updates a dict), so the
generated file behaves exactly as the two did. ``evaluate.json`` and ``multi_gpu_train.json`` stay override files:
the shared keys, then the bundle's, with a bundle ``+key`` folded into a shared ``key``.

``python -m medunet.bundle build`` rewrites the generated files; ``--check`` only reports the ones out of date
(``tests/bundle/test_build.py`` runs it, so a hand edit of a generated file fails the tests).
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser

from medunet.utils.files import atomic_path

__all__ = ["FULL_CONFIGS", "OVERRIDE_CONFIGS", "build_bundles", "merge_overrides", "render_bundle"]

logger = logging.getLogger(__name__)

FULL_CONFIGS = ("train.json", "inference.json")
OVERRIDE_CONFIGS = ("evaluate.json", "multi_gpu_train.json")
COPIED = ("logging.conf",)
MERGE = "+"


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _combine(first: Any, second: Any, key: str) -> Any:
    if isinstance(first, list) and isinstance(second, list):
        return [*first, *second]
    if isinstance(first, dict) and isinstance(second, dict):
        return {**first, **second}
    raise ValueError(f"'{MERGE}{key}' must merge a list into a list or a dict into a dict.")


def merge_overrides(shared: dict, own: dict) -> dict:
    """One override file equivalent to merging ``shared`` and then ``own`` over a config.

    Keys keep their order (shared first). A plain key of ``own`` replaces the same key of ``shared`` in place, and
    drops the shared keys below it (``key#...``), which it would have overwritten; ``+key`` of ``own`` is folded into
    ``shared``'s ``key`` or ``+key`` (list concatenation, dict update) or kept as ``+key``.
    """
    merged = copy.deepcopy(shared)
    for key, value in own.items():
        value = copy.deepcopy(value)
        if not key.startswith(MERGE):
            for below in [k for k in merged if k.lstrip(MERGE).startswith(f"{key}#")]:
                del merged[below]
            merged[key] = value
            continue
        target = key[len(MERGE) :]
        if target in merged:
            merged[target] = _combine(merged[target], value, target)
        elif key in merged:
            merged[key] = _combine(merged[key], value, target)
        else:
            merged[key] = value
    return merged


def _dump(config: dict) -> str:
    return json.dumps(config, indent=4, ensure_ascii=False) + "\n"


def render_bundle(sources: Path, bundle: str) -> dict[str, str]:
    """The generated ``configs/`` files of ``bundle`` (file name -> text) from the pieces in ``sources``."""
    shared, own = sources / "shared", sources / bundle
    if not own.is_dir():
        raise FileNotFoundError(f"{own}: no config pieces for bundle {bundle!r}")
    files = {}
    for name in FULL_CONFIGS:
        parts = [p for p in (shared / name, own / name) if p.is_file()]
        files[name] = _dump(ConfigParser.load_config_files(parts))
    for name in OVERRIDE_CONFIGS:
        if (own / name).is_file():
            files[name] = _dump(merge_overrides(_read(shared / name), _read(own / name)))
    for name in COPIED:
        files[name] = (shared / name).read_text()
    return files


def bundle_names(sources: Path) -> list[str]:
    """The bundles that have config pieces in ``sources`` (every folder but ``shared`` and ``schema``)."""
    return sorted(p.name for p in sources.iterdir() if p.is_dir() and p.name not in ("shared", "schema"))


def build_bundles(repo: Path, check: bool = False) -> list[Path]:
    """Write (or with ``check`` only compare) every generated bundle config of the repository ``repo``.

    Returns:
        the files that were out of date (written, unless ``check``).
    """
    sources, stale = repo / "configs", []
    for bundle in bundle_names(sources):
        target = repo / "bundles" / bundle / "configs"
        if not (target / "metadata.json").is_file():
            raise FileNotFoundError(f"{target / 'metadata.json'}: missing (config pieces without a bundle folder)")
        for name, text in render_bundle(sources, bundle).items():
            path = target / name
            if path.is_file() and path.read_text() == text:
                continue
            stale.append(path)
            if not check:
                with atomic_path(path) as tmp:
                    tmp.write_text(text)
                logger.info("wrote %s", path)
    return stale

"""Deterministic training / validation splits, kept in a datalist JSON so that a resumed training reuses them.

- :func:`split_cases`: a deterministic training / validation split by case id, independent of the input order.
- :func:`load_or_create_split`: the split as a datalist JSON; a resumed training reads it back unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from medunet.data.discovery import DatasetError, case_id, duplicate_problems, raise_problems
from medunet.utils.files import atomic_path

__all__ = ["load_or_create_split", "split_cases"]

logger = logging.getLogger(__name__)

PATH_KEYS = ("image", "label")


def _num_val(n: int, val_fraction: float, num_val: int | None) -> int:
    if num_val is not None:
        if not (isinstance(num_val, int) and 0 <= num_val < max(n, 1)):
            raise ValueError(f"`num_val` must be an int in [0, {max(n - 1, 0)}] for {n} case(s), got {num_val!r}.")
        return num_val
    if not 0 <= val_fraction < 1:
        raise ValueError(f"`val_fraction` must be in [0, 1), got {val_fraction!r}.")
    if n < 2 or val_fraction == 0:
        if val_fraction > 0:
            logger.warning("only %d case(s): no validation cases, everything is used for training", n)
        return 0
    return min(max(round(val_fraction * n), 1), n - 1)


def split_cases(
    items: Sequence[dict], val_fraction: float = 0.2, seed: int = 0, num_val: int | None = None, key: str | None = None
) -> dict[str, list[dict]]:
    """Deterministic training / validation split by case id.

    Each case is ranked by the SHA-256 of ``"{seed}:{case id}"`` and the first ``num_val`` of that ranking are the
    validation cases. The split therefore depends on the set of ids and the seed only: not on the input order, the
    platform or the numpy version, and adding a case moves at most one other case between the two sides.

    Args:
        items: datalist items, each with a unique id (see :func:`case_id`).
        val_fraction: share of validation cases, in ``[0, 1)``: ``round(val_fraction * n)``, at least 1 and at most
            ``n - 1`` when there are 2 or more cases (a single case goes to training).
        seed: a different seed gives a different split.
        num_val: exact number of validation cases (overrides ``val_fraction``), ``0 <= num_val < n``.
        key: item entry holding the id; None: ``"case"``, else ``"name"``.

    Returns:
        ``{"training": [...], "validation": [...]}``, each sorted by case id.
    """
    raise_problems(duplicate_problems(items, key), "datalist")
    ids = [case_id(item, key) for item in items]
    count = _num_val(len(ids), val_fraction, num_val)
    rank = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    validation = set(rank[:count])
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return {
        "training": [items[i] for i in order if ids[i] not in validation],
        "validation": [items[i] for i in order if ids[i] in validation],
    }


def _map_paths(item: dict, convert: Callable[[str], str]) -> dict:
    """``item`` with ``convert`` applied to its image / label paths (a path or a list of paths each)."""
    out = dict(item)
    for k in PATH_KEYS:
        if isinstance(out.get(k), (str, os.PathLike)):
            out[k] = convert(os.fspath(out[k]))
        elif isinstance(out.get(k), (list, tuple)):
            out[k] = [convert(os.fspath(p)) for p in out[k]]
    return out


def _relative_to(base: Path) -> Callable[[str], str]:
    def convert(path: str) -> str:
        absolute = Path(os.path.abspath(path))
        return absolute.relative_to(base).as_posix() if absolute.is_relative_to(base) else str(absolute)

    return convert


def _canonical(item: dict) -> str:
    return json.dumps(item, sort_keys=True, default=str)


def _read_split(path: Path) -> dict | None:
    """The split stored at ``path``, or None when there is none (or it is a broken file of ours)."""
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: cannot read the split file ({e}); delete it to write a new split") from e
    if not (isinstance(stored, dict) and all(isinstance(stored.get(k), list) for k in ("training", "validation"))):
        raise DatasetError(
            f"{path}: not a split file (expected a JSON object with 'training' and 'validation' lists); "
            "choose another split path"
        )
    return stored


def load_or_create_split(
    path: str | os.PathLike,
    items: Sequence[dict],
    base_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    num_val: int | None = None,
    key: str | None = None,
) -> dict[str, list[dict]]:
    """The training / validation split of ``items``, kept in a datalist JSON at ``path`` across runs.

    - ``path`` holds a split of exactly these items: it is reused as stored (a resumed training keeps its
      validation cases, whatever ``val_fraction`` / ``seed`` say now if the file was written by hand).
    - ``path`` holds a split written by this function for other items or other split settings (the dataset
      changed): a warning names the difference and a new split replaces it.
    - ``path`` holds a hand-written split of other items, or a JSON file that is not a split: DatasetError (such a
      file is never overwritten).
    - no file: :func:`split_cases` and the result is written atomically (temporary file + ``os.replace``).

    The file is a MONAI datalist: ``{"training": [...], "validation": [...], "split": {settings}}``. Image and
    label paths inside ``base_dir`` are stored relative to it (POSIX separators), others as absolute paths, so
    the dataset folder can move. With ``base_dir`` = the file's folder (the default) it loads with
    ``monai.data.load_decathlon_datalist(path, data_list_key="validation")``.

    Args:
        path: the JSON file (its folder is created).
        items: the datalist items (absolute or working-directory-relative paths).
        base_dir: folder that relative paths in the file refer to; default: the folder of ``path``.
        val_fraction, seed, num_val, key: see :func:`split_cases`.

    Returns:
        ``{"training": [...], "validation": [...]}`` holding the given ``items`` (same objects).
    """
    path = Path(path)
    base = Path(os.path.abspath(base_dir if base_dir is not None else path.parent))
    to_file = _relative_to(base)
    by_form = {_canonical(_map_paths(item, to_file)): item for item in items}
    raise_problems(duplicate_problems(items, key), "datalist")
    settings = {"val_fraction": val_fraction, "seed": seed, "num_val": num_val, "key": key}
    stored = _read_split(path)
    if stored is not None:
        forms = {part: [_canonical(i) for i in stored[part]] for part in ("training", "validation")}
        stored_forms = set(forms["training"] + forms["validation"])
        same_items = stored_forms == set(by_form) and len(forms["training"]) + len(forms["validation"]) == len(items)
        if same_items and stored.get("split", settings) == settings:
            logger.info("reusing the split in %s", path)
            return {part: [by_form[f] for f in forms[part]] for part in forms}
        if "split" not in stored:
            raise DatasetError(
                f"{path}: this hand-written split does not list the cases found now "
                f"({len(set(by_form) - stored_forms)} new, {len(stored_forms - set(by_form))} gone); "
                "update it or choose another split path"
            )
        logger.warning(
            "%s does not match the dataset or the split settings (%d new case(s), %d gone, settings %s -> %s): "
            "writing a new split",
            path,
            len(set(by_form) - stored_forms),
            len(stored_forms - set(by_form)),
            stored.get("split"),
            settings,
        )
    split = split_cases(items, val_fraction, seed, num_val, key)
    record = {part: [_map_paths(i, to_file) for i in split[part]] for part in split}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({**record, "split": settings}, indent=2) + "\n")
    logger.info("wrote a new split to %s: %d training, %d validation", path, *map(len, split.values()))
    return split

"""Shared pieces of the dataset layouts: one error for a bad folder, splits that survive a resume, safe writes.

- :class:`DatasetError`: every problem of a dataset folder in one message, one ``path: problem (expected ...)``
  line each, so a user fixes the whole folder in one go instead of one file per run.
- :func:`split_cases`: a deterministic training / validation split by case id, independent of the input order.
- :func:`load_or_create_split`: the split as a datalist JSON; a resumed training reads it back unchanged.
- :func:`prepare_dataset`: check a dataset folder, or generate a synthetic dataset into a missing / empty one.
- :func:`write_label_image` / :class:`SaveLabelImaged`: 16-bit TIFF / PNG label maps, atomic, never onto an input.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform
from PIL import Image

from medunet.data.io import atomic_path, write_nifti
from medunet.transforms._arrays import as_label_array, output_keys

__all__ = [
    "DatasetError",
    "SaveLabelImaged",
    "SaveNiftid",
    "case_id",
    "common_folder",
    "duplicate_problems",
    "folder_error",
    "is_hidden",
    "load_or_create_split",
    "prepare_dataset",
    "protected_files",
    "raise_problems",
    "refuse_protected",
    "split_cases",
    "visible_entries",
    "visible_files",
    "write_label_image",
]

logger = logging.getLogger(__name__)

PATH_KEYS = ("image", "label")
FILE = "filename_or_obj"
MAX_LINES = 20


class DatasetError(ValueError):
    """A dataset folder or datalist that cannot be used, with every problem found.

    Args:
        message: the headline, naming the folder (or what was checked).
        problems: one line per problem, ``"path: problem (expected ...)"``; the message shows the first
            ``max_lines`` and counts the rest. All of them stay available as ``error.problems``.
        max_lines: how many problem lines the message shows.
        items: the datalist items that were found fine despite the problems (a discovery error), so that
            :func:`prepare_dataset` can check them too and report everything at once; None otherwise.
    """

    def __init__(
        self, message: str, problems: Sequence[str] = (), max_lines: int = MAX_LINES, items: list | None = None
    ) -> None:
        self.problems, self.items, self.what = list(problems), items, message
        lines = [message, *(f"  {p}" for p in self.problems[:max_lines])]
        if len(self.problems) > max_lines:
            lines.append(f"  ... and {len(self.problems) - max_lines} more problem(s)")
        super().__init__("\n".join(lines))


def raise_problems(problems: Sequence[str], what: str, items: list | None = None) -> None:
    """Raise one :class:`DatasetError` listing ``problems`` (if any) under the headline ``"{what}: N problem(s)"``;
    ``items``: the usable items found so far (see :class:`DatasetError`)."""
    if problems:
        error = DatasetError(f"{what}: {len(problems)} problem(s)", problems, items=items)
        error.what = what
        raise error


def is_hidden(path: str | os.PathLike) -> bool:
    """Whether a file is hidden (name starts with ``.``): macOS ``._*`` resource forks, ``.DS_Store``, partials."""
    return Path(path).name.startswith(".")


def visible_entries(folder: str | os.PathLike) -> list[Path]:
    """The entries of ``folder`` that are not hidden, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if not is_hidden(p))


def visible_files(folder: str | os.PathLike, suffixes: Sequence[str]) -> list[Path]:
    """The visible files of ``folder`` whose name ends with one of ``suffixes`` (any case), sorted; none if the
    folder is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for p in visible_entries(folder) if p.name.lower().endswith(tuple(suffixes)) and p.is_file()]


def folder_error(folder: str | os.PathLike, what: str, expected: str) -> DatasetError:
    """The error for a folder without a usable dataset: it names the folder, what it holds and what was expected."""
    folder = Path(folder)
    if not folder.is_dir():
        state = "not a folder" if folder.exists() else "folder not found"
        return DatasetError(f"{folder}: {state} (expected {expected})")
    entries = visible_entries(folder)
    held = ", ".join(p.name for p in entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    return DatasetError(f"{folder}: no {what} found (it holds: {held or 'nothing'}); expected {expected}")


def case_id(item: dict, key: str | None = None) -> str:
    """The id of a datalist item: ``item[key]``, or by default its ``"case"`` (brain) or ``"name"`` (cells) entry."""
    for k in (key,) if key is not None else ("case", "name"):
        if k in item:
            return str(item[k])
    raise ValueError(f"datalist item has no case id (expected a {key or 'case or name'!r} entry), got {item!r}.")


def duplicate_problems(items: Sequence[dict], key: str | None = None) -> list[str]:
    """One ``"id: used N times"`` problem line per case id that several items share."""
    counts = Counter(case_id(item, key) for item in items)
    return [f"{i}: case id used {n} times (expected unique ids)" for i, n in sorted(counts.items()) if n > 1]


def common_folder(items: Sequence[dict]) -> str:
    """The deepest folder holding every item's (first) image file, for error headlines."""
    files = [item["image"] if isinstance(item["image"], (str, os.PathLike)) else item["image"][0] for item in items]
    return os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files]) if files else ""


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


def _generate(folder: Path, make_synthetic: Callable[[str], Any], description: str) -> None:
    """Run ``make_synthetic`` in a hidden staging folder inside ``folder``, then move what it wrote into place."""
    logger.info("no dataset found in %s: generating the %s dataset there", folder, description)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder))
    try:
        make_synthetic(str(staging))
        written = visible_entries(staging)
        if not written:
            raise DatasetError(f"{folder}: the {description} dataset generator wrote nothing")
        for entry in written:
            os.replace(entry, folder / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepare_dataset(
    dataset_dir: str | os.PathLike,
    make_synthetic: Callable[[str], Any] | None = None,
    *,
    find: Callable[[str], list[dict]],
    check: Callable[[list[dict]], Any] | None = None,
    description: str = "synthetic",
) -> list[dict]:
    """The checked datalist of ``dataset_dir``, generating a synthetic dataset there first if it holds none.

    - ``dataset_dir`` missing or empty (hidden files such as ``.DS_Store`` do not count) and ``make_synthetic``
      given: ``make_synthetic(folder)`` writes the dataset into a hidden staging folder inside ``dataset_dir``,
      whose entries are then moved into place (an interrupted generation leaves only a hidden ``.partial-*``
      folder, never half a dataset). The writer must store relative paths only (as MSD's ``dataset.json`` does).
    - anything else: ``find`` and ``check`` must accept it, else one DatasetError lists the problems of both (the
      files ``find`` misses and those ``check`` finds broken among the rest). A folder with other files is never
      written into.

    Args:
        dataset_dir: the dataset folder.
        make_synthetic: ``callable(folder)`` that writes a dataset into ``folder``; None: never generate.
        find: folder -> datalist items (raises DatasetError for an unrecognised folder).
        check: items -> raises DatasetError for bad files; None: no check.
        description: what is generated, for the log line ("no dataset found in <dir>: generating the ...").

    Returns:
        the datalist items of ``dataset_dir``.
    """
    folder = Path(dataset_dir)
    if folder.exists() and not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder (expected a dataset folder)")
    if make_synthetic is not None and (not folder.exists() or not visible_entries(folder)):
        _generate(folder, make_synthetic, description)
    try:
        items, found = find(str(folder)), None
    except DatasetError as e:
        if e.items is None:  # not a dataset at all
            raise
        items, found = e.items, e
    try:
        if check is not None:
            check(items)
    except DatasetError as e:
        if found is None:
            raise
        raise_problems(found.problems + e.problems, found.what)  # missing and broken files in one report
    if found is not None:
        raise found
    return items


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    a, b = os.path.realpath(a), os.path.realpath(b)
    return a == b or (os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


def write_label_image(
    path: str | os.PathLike, array: NdarrayOrTensor, protect: Iterable[str | os.PathLike] = ()
) -> Path:
    """Write a 2D label image (instance ids, a class map) as a 16-bit TIFF or PNG, atomically.

    The file appears complete under its name or not at all (:func:`medunet.data.io.atomic_path`); its folder is
    created. ``.tif`` / ``.tiff``: zlib-compressed uint16, or uint32 when an id exceeds 65535; ``.png``: uint16
    (ids above 65535 raise).

    Args:
        path: the output file, ``.tif``, ``.tiff`` or ``.png``.
        array: ``(H, W)`` or ``(1, H, W)`` whole non-negative numbers (numpy or torch).
        protect: files that must never be written over (the inputs); ``path`` naming one of them raises.

    Returns:
        ``path``.

    Raises:
        ValueError: ``path`` is an input file, an unsupported suffix, the wrong shape, or values that do not fit.
    """
    path = Path(path)
    if any(_same_file(path, p) for p in protect):
        raise ValueError(f"refusing to write {path}: it is an input file (expected an output path elsewhere).")
    suffix = path.suffix.lower()
    if suffix not in (".tif", ".tiff", ".png"):
        raise ValueError(f"label images are written as .tif, .tiff or .png, got {path.name!r}.")
    labels = as_label_array(array, "array")
    if labels.ndim == 3 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.ndim != 2:
        raise ValueError(f"`array` must be (H, W) or (1, H, W), got shape {tuple(labels.shape)} for {path}.")
    top = int(labels.max(initial=0))
    if top > np.iinfo(np.uint16).max and suffix == ".png":
        raise ValueError(f"{path}: ids up to {top} do not fit a 16-bit PNG (expected <= 65535; write a .tif).")
    dtype = np.uint16 if top <= np.iinfo(np.uint16).max else np.uint32
    with atomic_path(path) as tmp:
        if suffix == ".png":
            Image.fromarray(labels.astype(dtype)).save(tmp, format="PNG")
        else:
            tifffile.imwrite(tmp, labels.astype(dtype), compression="zlib")
    return path


def _input_files(data: Mapping[Hashable, Any]) -> list[str]:
    """Every file path an item refers to (its image and label entries and the image's meta file name)."""
    files = []
    for value in (data.get(k) for k in PATH_KEYS):
        values = value if isinstance(value, (list, tuple)) else [value]
        files += [os.fspath(v) for v in values if isinstance(v, (str, os.PathLike))]
        files += [str(v.meta["filename_or_obj"]) for v in values if isinstance(v, MetaTensor) and v.meta.get(FILE)]
    return files


def protected_files(inputs: Iterable[Mapping[Hashable, Any] | str | os.PathLike]) -> frozenset[str]:
    """The resolved paths of the files of ``inputs``, datalist items (their image and label entries) or paths, that a
    writer must never write over: pass a whole datalist so that no output lands on any input, not only on its own
    item's. Resolved once, so that checking an output against thousands of inputs is one set look-up."""
    files: list[str] = []
    for entry in inputs:
        files += _input_files(entry) if isinstance(entry, Mapping) else [os.fspath(entry)]
    return frozenset(os.path.realpath(f) for f in files)


def refuse_protected(path: Path, protected: frozenset[str]) -> None:
    """Raise ValueError if ``path`` is one of the :func:`protected_files`."""
    if os.path.realpath(path) in protected:
        raise ValueError(f"refusing to write {path}: it is an input file (expected an output path elsewhere).")


class SaveLabelImaged(MapTransform):
    """Write label maps (instance ids, class maps) of 2D items with :func:`write_label_image`, one file per key.

    The file is ``output_dir / f"{name}_{postfix}{output_ext}"``: ``name`` is the item's ``name_key`` entry (the
    datalist ``"name"``), else the stem of the array's meta ``filename_or_obj`` (plus ``_<frame>`` for a page of a
    stack). Files the item was read from (``"image"``, ``"label"``, their meta file names) are never written over.

    Args:
        keys: label maps ``(1, H, W)`` or ``(H, W)``; probabilities must be turned into a map first
            (``AsDiscreted(argmax=True)``).
        output_dir: the output folder (created).
        output_postfix: one per key, or None: the key names (``cell_000_instances.tif``, ``cell_000_semantic.tif``).
        output_ext: ``".tif"`` (default), ``".tiff"`` or ``".png"``.
        name_key: item entry naming the output.
        protect: more files never to write over, besides the item's own: datalist items or paths (the bundle passes
            its whole inference datalist, so an output never lands on another input of the same folder).
        allow_missing_keys: skip missing keys.

    Example (cell bundle postprocessing)::

        {"_target_": "medunet.data.datalist.SaveLabelImaged", "keys": ["instances", "semantic"],
         "output_dir": "$@bundle_root + '/predictions'", "protect": "@datalist"}
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | os.PathLike,
        output_postfix: str | Sequence[str] | None = None,
        output_ext: str = ".tif",
        name_key: str = "name",
        protect: Iterable[Mapping[Hashable, Any] | str | os.PathLike] = (),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.protect = protected_files(protect)
        if output_ext.lower() not in (".tif", ".tiff", ".png"):
            raise ValueError(f"`output_ext` must be '.tif', '.tiff' or '.png', got {output_ext!r}.")
        self.output_dir, self.output_ext, self.name_key = Path(output_dir), output_ext, name_key
        self.postfixes = output_keys(tuple(map(str, self.keys)), output_postfix, "output_postfix")

    def _name(self, data: Mapping[Hashable, Any], array: Any) -> str:
        if data.get(self.name_key):
            return str(data[self.name_key])
        meta = getattr(array, "meta", {})
        if not meta.get(FILE):
            raise ValueError(f"cannot name the output: no {self.name_key!r} entry and no meta {FILE!r} in the item.")
        stem = Path(str(meta[FILE])).name.split(".")[0]
        return f"{stem}_{int(meta['frame']):03d}" if meta.get("frame") else stem

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        protect = _input_files(d)
        for key, postfix in self.key_iterator(d, self.postfixes):
            path = self.output_dir / f"{self._name(d, d[key])}_{postfix}{self.output_ext}"
            refuse_protected(path, self.protect)
            write_label_image(path, d[key], protect + _input_files({"image": d[key]}))
            logger.info("wrote %s", path)
        return d


class SaveNiftid(MapTransform):
    """Write label maps of 3D items as NIfTI files, atomically, in the space of their MetaTensor.

    After ``Invertd`` the prediction is back on the input's grid, so the file has the input's shape, affine and
    orientation. The file is ``output_dir / f"{name}_{postfix}.nii.gz"``: ``name`` is the item's ``name_key`` entry,
    else the meta ``case`` entry, else the stem of the meta ``filename_or_obj``. It appears complete or not at all
    (:func:`medunet.data.io.write_nifti`), and files the item was read from are never written over.

    Args:
        keys: label maps ``(1, X, Y, Z)`` or ``(X, Y, Z)`` with an ``affine`` (MetaTensor).
        output_dir: the output folder (created).
        output_postfix: one per key, or None: the key names.
        dtype: stored data type (uint8 fits class maps up to 255).
        name_key: item entry naming the output.
        protect: more files never to write over, besides the item's own: datalist items or paths.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | os.PathLike,
        output_postfix: str | Sequence[str] | None = "seg",
        dtype: Any = np.uint8,
        name_key: str = "case",
        protect: Iterable[Mapping[Hashable, Any] | str | os.PathLike] = (),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.protect = protected_files(protect)
        self.output_dir, self.dtype, self.name_key = Path(output_dir), np.dtype(dtype), name_key
        self.postfixes = output_keys(tuple(map(str, self.keys)), output_postfix, "output_postfix")

    def _name(self, data: Mapping[Hashable, Any], array: Any) -> str:
        meta = getattr(array, "meta", {}) or {}
        for name in (data.get(self.name_key), meta.get(self.name_key)):
            if name:
                return str(name)
        source = meta.get(FILE)
        if isinstance(source, (list, tuple)):
            source = source[0]
        if not source:
            raise ValueError(f"cannot name the output: no {self.name_key!r} entry and no meta {FILE!r} in the item.")
        return Path(str(source)).name.split(".")[0]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        protect = _input_files(d)
        for key, postfix in self.key_iterator(d, self.postfixes):
            array = d[key]
            if not isinstance(array, MetaTensor):
                raise TypeError(f"{key!r} must be a MetaTensor with an affine to be saved as NIfTI, got {type(array)}.")
            labels = array.detach().cpu().numpy()
            if labels.ndim == 4 and labels.shape[0] == 1:
                labels = labels[0]
            if labels.ndim != 3:
                raise ValueError(f"{key!r} must be (1, X, Y, Z) or (X, Y, Z), got shape {tuple(array.shape)}.")
            path = self.output_dir / f"{self._name(d, array)}_{postfix}.nii.gz"
            refuse_protected(path, self.protect)
            if any(_same_file(path, p) for p in protect + _input_files({"image": array})):
                raise ValueError(f"refusing to write {path}: it is an input file (expected an output path elsewhere).")
            write_nifti(path, labels.astype(self.dtype), array.affine.detach().cpu().numpy().astype(np.float64))
            logger.info("wrote %s", path)
        return d

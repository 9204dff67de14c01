"""Dataset discovery: one error for a bad folder, the folder helpers every layout uses, and preparation.

- :class:`DatasetError`: every problem of a dataset folder in one message, one ``path: problem (expected ...)``
  line each, so a user fixes the whole folder in one go instead of one file per run.
- :func:`visible_files`, :func:`folder_error`, :func:`duplicate_problems`, ...: what the layout finders of
  :mod:`medunet.data.brain` and :mod:`medunet.data.cells` share.
- :func:`prepare_dataset`: check a dataset folder, or generate a synthetic dataset into a missing / empty one.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DatasetError",
    "case_id",
    "common_folder",
    "duplicate_problems",
    "folder_error",
    "is_hidden",
    "prepare_dataset",
    "raise_problems",
    "visible_entries",
    "visible_files",
]

logger = logging.getLogger(__name__)

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

"""``medunet bundle <verb>`` (also ``python -m medunet.bundle <verb>``): the bundle verbs.

- ``build``: write the bundles' generated config files from ``configs/`` (a repository checkout's developer verb).
- ``export``: a self-contained copy of a bundle folder, without data, checkpoints or outputs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="bundle_command", metavar="VERB", required=True)
    build = verbs.add_parser("build", help="regenerate bundles/*/configs from configs/ (in a checkout)")
    build.add_argument("--repo", type=Path, default=Path.cwd(), help="repository root (default: here)")
    build.add_argument("--check", action="store_true", help="only list the generated files that are out of date")
    export = verbs.add_parser("export", help="self-contained copy of a bundle folder")
    export.add_argument("bundle_dir", type=Path)
    export.add_argument("out_dir", type=Path)


def run(args: argparse.Namespace) -> int:
    if args.bundle_command == "build":
        from medunet.bundle.build import build_bundles

        stale = build_bundles(args.repo, check=args.check)
        if args.check and stale:
            raise ValueError(f"out of date, run `medunet bundle build`: {', '.join(map(str, stale))}")
        return 0
    if args.bundle_command == "export":
        from medunet.bundle.export import export_bundle

        export_bundle(args.bundle_dir, args.out_dir)
        return 0
    raise ValueError(f"unknown bundle verb {args.bundle_command!r}")

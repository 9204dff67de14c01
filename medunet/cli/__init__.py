"""The ``medunet`` command: one verb per job.

- ``medunet bundle build|export|...``: make, share and install bundles.
- ``medunet demo``: the main job, end to end on a bundle, offline.

Each verb lives in its own module with ``add_arguments(parser)`` and ``run(args) -> int``; only the module of the verb
being run is imported, so ``medunet --help`` is instant. A failure the user can act on (a bad file, a wrong option)
is printed as one ``error: ...`` line and a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main", "report_error"]

# verb -> (module, one-line help)
COMMANDS = {
    "bundle": ("medunet.bundle.cli", "make, pack, verify and install bundles"),
    "demo": ("medunet.demo", "train, evaluate and apply a bundle on its synthetic dataset"),
}

EXIT_FAILED = 1
EXIT_USAGE = 2


def _version() -> str:
    from medunet import __version__

    return __version__


def _verb(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def report_error(error: BaseException, debug: bool, prefix: str = "error") -> None:
    """Print ``error`` as one line (``prefix: message``), or with its traceback when ``debug``."""
    if debug:
        import traceback

        traceback.print_exception(error)
        return
    message = " ".join(str(error).split()) or type(error).__name__
    print(f"{prefix}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="medunet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"medunet {_version()}")
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _verb(argv)
    for name, (module, help_text) in COMMANDS.items():
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            sub.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
            importlib.import_module(module).add_arguments(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the one place that turns an error into a message and an exit code
        report_error(error, getattr(args, "debug", False))
        return EXIT_FAILED

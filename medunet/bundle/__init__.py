"""Helpers that medunet's MONAI bundles call from their configs, and ``python -m medunet.bundle export``.

The bundles themselves are run with MONAI's own ``python -m monai.bundle run``; see ``bundles/*/docs/README.md``.
"""

from medunet.bundle.distributed import is_rank_zero, rank_zero_first
from medunet.bundle.export import export_bundle

__all__ = ["export_bundle", "is_rank_zero", "rank_zero_first"]

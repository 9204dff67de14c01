"""Ignite handlers for bundles: resumable training, a last validation at the end, progress lines with time left,
overlay PNGs, per-case metric reports."""

from medunet.handlers.overlays import OverlayWriter, save_overlay
from medunet.handlers.progress import ProgressLogger
from medunet.handlers.report import MetricsReport, case_names_from_batch
from medunet.handlers.resume import BestModelSaver, ResumeHandler, latest_checkpoint
from medunet.handlers.validation import FinalValidationHandler

__all__ = [
    "BestModelSaver",
    "FinalValidationHandler",
    "MetricsReport",
    "OverlayWriter",
    "ProgressLogger",
    "ResumeHandler",
    "case_names_from_batch",
    "latest_checkpoint",
    "save_overlay",
]

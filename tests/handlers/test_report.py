import csv

import pytest
import torch
from ignite.engine import Engine, Events
from PIL import Image

from medunet.handlers import MetricsReport


def run_report(tmp_path, details, **options):
    names = iter([["case_a", "case_b"], ["case_c"]])
    engine = Engine(lambda e, b: None)
    columns = {"dice": ["WT", "TC"], "hd": ["WT_hd"]}
    MetricsReport(tmp_path, columns, name_transform=lambda batch: next(names), **options).attach(engine)
    engine.add_event_handler(Events.STARTED, lambda e: setattr(e.state, "metric_details", details))
    engine.run([0, 1], max_epochs=1)


def test_report_writes_named_columns_summary_and_figure(tmp_path):
    details = {"dice": torch.tensor([[0.9, 0.8], [0.7, 0.6], [0.5, float("nan")]]), "hd": torch.tensor([1.0, 2, 3])}
    run_report(tmp_path, details)
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["case", "WT", "TC", "WT_hd"]
    assert rows[1] == ["case_a", "0.9", "0.8", "1"]
    assert len(rows) == 4
    with open(tmp_path / "summary.csv") as f:
        summary = {r["metric"]: r for r in csv.DictReader(f)}
    assert float(summary["WT"]["mean"]) == pytest.approx(0.7)
    assert summary["TC"]["count"] == "2"  # NaN left out of the statistics
    assert (tmp_path / "metrics.png").stat().st_size > 1000


def test_details_of_the_wrong_size_are_an_error(tmp_path):
    with pytest.raises(ValueError, match="expected \\(3, 2\\)"):
        run_report(tmp_path, {"dice": torch.zeros(3, 3), "hd": torch.zeros(3)})
    assert not (tmp_path / "metrics.csv").exists()


def test_plot_columns_choose_what_the_figure_draws_and_the_csv_keeps_all(tmp_path):
    details = {"dice": torch.tensor([[0.9, 0.8], [0.7, 0.6], [0.5, 0.4]]), "hd": torch.tensor([1.0, 2, 3])}
    run_report(tmp_path / "all", details)
    run_report(tmp_path / "some", details, plot_columns=["WT"])
    with open(tmp_path / "some" / "metrics.csv") as f:
        assert next(csv.reader(f)) == ["case", "WT", "TC", "WT_hd"]
    width = {k: Image.open(tmp_path / k / "metrics.png").size[0] for k in ("all", "some")}
    assert width["some"] < width["all"] / 1.5  # one box instead of three
    with pytest.raises(ValueError, match="plot_columns"):
        MetricsReport(tmp_path, {"dice": ["WT"]}, plot_columns=["ET"])
    with pytest.raises(ValueError, match="plot_columns"):  # an empty figure: refused before the evaluation runs
        MetricsReport(tmp_path, {"dice": ["WT"]}, plot_columns=[])

"""The main job's bookkeeping: which bundle, which held-out file, what it prints (the runs are the bundles' tests)."""

import pytest

from medunet.bundle.files import bundles_dir
from medunet.demo import DEMOS, main, summary


def test_every_demo_names_a_bundle_of_the_repository():
    for demo in DEMOS.values():
        assert (bundles_dir() / demo.folder / "configs" / "metadata.json").is_file()
        assert demo.test_input.startswith("data_test/")  # written by the evaluation step's --test_dir


def test_summary_reads_the_report_means_and_averages_the_dice_columns(tmp_path):
    (tmp_path / "summary.csv").write_text(
        "metric,mean,std,median,min,max,count\nWT_dice,0.9,0,0.9,0.9,0.9,2\nTC_dice,0.8,0,0.8,0.8,0.8,2\n"
        "WT_hd95,3.5,0,3.5,3.5,3.5,2\n"
    )
    scores = summary(tmp_path / "summary.csv")
    assert scores["WT_hd95"] == 3.5
    assert scores["mean_dice"] == pytest.approx(0.85)
    line = dict(DEMOS["cells"].scores)["held-out IoU"]
    assert line.format(foreground_iou=0.97712) == "foreground 0.977"


def test_an_unknown_bundle_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--bundle", "lungs"])
    assert "invalid choice" in capsys.readouterr().err

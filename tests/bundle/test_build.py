"""The bundles' config files are generated from configs/: the two must agree, and the merge must be MONAI's."""

import json
from pathlib import Path

import pytest
from monai.bundle import ConfigParser

from medunet.bundle.build import build_bundles, merge_overrides, render_bundle

REPO = Path(__file__).resolve().parents[2]


def test_generated_bundle_configs_are_up_to_date():
    stale = build_bundles(REPO, check=True)
    assert stale == [], f"edit configs/ and run `python -m medunet.bundle build`, not the generated {stale}"


def test_no_bundle_links_out_of_its_folder():
    for bundle in (REPO / "bundles").iterdir():
        for path in bundle.rglob("*"):
            assert not path.is_symlink(), path


def tree(tmp_path, files):
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_full_config_is_the_monai_merge_of_shared_and_own(tmp_path):
    shared = {"a": 1, "train": {"x": 1, "handlers": [1]}, "run": ["$@t.run()"]}
    own = {"a": 2, "+train": {"y": 2}, "train#handlers": [3], "b": "@a"}
    tree(tmp_path, {"shared/train.json": shared, "demo/train.json": own, "shared/logging.conf": "[loggers]\n"})
    files = render_bundle(tmp_path, "demo")
    generated = json.loads(files["train.json"])
    expected = ConfigParser.load_config_files([str(tmp_path / "shared/train.json"), str(tmp_path / "demo/train.json")])
    assert (
        generated == expected == {"a": 2, "train": {"x": 1, "handlers": [3], "y": 2}, "run": ["$@t.run()"], "b": "@a"}
    )
    assert files["logging.conf"] == "[loggers]\n"
    assert "evaluate.json" not in files  # override files only where the bundle has its own part


def test_override_files_stay_overrides_and_apply_like_the_two_files_did():
    base = {"validate": {"handlers": [1], "x": 0}, "run": ["train"], "keep": 1}
    shared = {"_desc_": "shared", "validate#handlers": [10, 11], "run": ["validate"], "validate#x#y": 5}
    own = {"_desc_": "own", "+validate#handlers": [12], "validate#x": 7, "extra": True}
    merged = merge_overrides(shared, own)
    assert list(merged) == ["_desc_", "validate#handlers", "run", "validate#x", "extra"]
    assert merged["_desc_"] == "own" and merged["validate#handlers"] == [10, 11, 12]

    def apply(config, *overrides):
        parser = ConfigParser(json.loads(json.dumps(config)))
        for override in overrides:
            for key, value in override.items():
                if key.startswith("+"):
                    parser[key[1:]] = (
                        parser[key[1:]] + value if isinstance(value, list) else {**parser[key[1:]], **value}
                    )
                else:
                    parser[key] = value
        return parser.get()

    base_with_x = {**base, "validate": {"handlers": [1], "x": {"y": 0}}}
    assert apply(base_with_x, merged) == apply(base_with_x, shared, own)


def test_merging_a_list_into_a_dict_is_refused():
    with pytest.raises(ValueError, match=r"'\+a' must merge a list into a list"):
        merge_overrides({"a": {"x": 1}}, {"+a": [1]})

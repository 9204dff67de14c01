import json
from pathlib import Path

import pytest
import tifffile
import torch
from monai.bundle import ConfigParser
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.handlers import MeanDice, from_engine
from monai.transforms import Activationsd, AsDiscreted, Compose

from medunet.engines import PrepareBatchWithWeight, SplitLabelWeightd
from medunet.losses import PackedWeightLoss, WeightedCrossEntropyLoss
from medunet.networks import UNet

SIZE = (26, 22)  # a valid size for UNet(channels=(4, 8), padding="valid"): margin 8, output (10, 6)
UNLABELED_ROWS = 13  # weight 0 on the top 13 rows of every item


def items(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        image = torch.rand(1, *SIZE, generator=g)
        weight = torch.ones(1, *SIZE)
        weight[:, :UNLABELED_ROWS] = 0.0
        out.append({"image": image, "label": (image > 0.5).float(), "weight": weight})
    return out


def test_prepare_batch_packs_label_and_weight():
    batch = {
        "image": torch.rand(2, 1, 5, 7),
        "label": torch.randint(0, 3, (2, 1, 5, 7), dtype=torch.uint8),
        "weight": torch.rand(2, 5, 7, dtype=torch.float64),  # no channel axis: accepted
    }
    image, target = PrepareBatchWithWeight()(batch, torch.device("cpu"))
    assert torch.equal(image, batch["image"])
    assert target.shape == (2, 2, 5, 7)
    assert target.dtype == torch.float32
    assert torch.equal(target[:, 0], batch["label"][:, 0].float())
    assert torch.allclose(target[:, 1], batch["weight"].float())


def test_prepare_batch_custom_keys_and_errors():
    batch = {"img": torch.rand(1, 1, 4, 4), "seg": torch.zeros(1, 1, 4, 4), "w": torch.ones(1, 1, 4, 4)}
    _, target = PrepareBatchWithWeight("w", image_key="img", label_key="seg")(batch)
    assert target.shape == (1, 2, 4, 4)
    with pytest.raises(KeyError, match="weight"):
        PrepareBatchWithWeight()({"image": batch["img"], "label": batch["seg"]})
    with pytest.raises(ValueError, match=r"label \(1, 1, 4, 4\) and weight \(1, 1, 6, 6\)"):
        PrepareBatchWithWeight()({"image": batch["img"], "label": batch["seg"], "weight": torch.ones(1, 1, 6, 6)})
    with pytest.raises(TypeError, match="dict batch"):
        PrepareBatchWithWeight()([batch["img"], batch["seg"]])


def test_split_label_weight_d_crops_to_the_prediction():
    label = torch.arange(36.0).reshape(1, 6, 6)
    item = {"pred": torch.zeros(2, 2, 4), "label": torch.cat([label, 10 * label]), "image": torch.zeros(1, 6, 6)}
    out = SplitLabelWeightd()(item)
    assert out["label"].shape == out["weight"].shape == (1, 2, 4)
    assert out["label"][0].tolist() == [[13, 14, 15, 16], [19, 20, 21, 22]]
    assert torch.equal(out["weight"], 10 * out["label"])
    # an evaluator's plain one-channel label is only cropped
    plain = SplitLabelWeightd()({"pred": item["pred"], "label": label})
    assert torch.equal(plain["label"], out["label"])
    assert "weight" not in plain
    kept = SplitLabelWeightd(weight_key=None, pred_key=None)(item)
    assert kept["label"].shape == (1, 6, 6)
    assert "weight" not in kept


def test_supervised_trainer_end_to_end_with_a_valid_unet():
    torch.manual_seed(0)
    net = UNet(2, 1, 2, channels=(4, 8), padding="valid")
    assert net.output_size(SIZE) == (10, 6)
    post = Compose(
        [
            SplitLabelWeightd(),
            Activationsd("pred", softmax=True),
            AsDiscreted(["pred", "label"], argmax=(True, False), to_onehot=2),
        ]
    )
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=2,
        train_data_loader=DataLoader(Dataset(items()), batch_size=2),
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.99),
        loss_function=PackedWeightLoss(WeightedCrossEntropyLoss()),
        prepare_batch=PrepareBatchWithWeight(),
        postprocessing=post,
        key_train_metric={"train_dice": MeanDice(output_transform=from_engine(["pred", "label"]))},
    )
    grads, losses = [], []

    @trainer.on(IterationEvents.FORWARD_COMPLETED)
    def keep_pred_grad(engine):
        engine.state.output["pred"].retain_grad()

    @trainer.on(IterationEvents.BACKWARD_COMPLETED)
    def record(engine):
        grads.append(engine.state.output["pred"].grad.clone())
        losses.append(engine.state.output["loss"].item())

    trainer.run()
    assert len(losses) == 2
    assert all(torch.isfinite(torch.tensor(losses)))
    # output rows 0..4 see label rows 8..12 (margin 8): all weight 0, so no gradient reaches them
    unlabeled_out_rows = UNLABELED_ROWS - net.margin
    for g in grads:
        assert g.shape == (2, 2, 10, 6)
        assert g[:, :, :unlabeled_out_rows].abs().max() == 0
        assert g[:, :, unlabeled_out_rows:].abs().max() > 0
    # postprocessing gave the metric a plain label cropped to the prediction
    assert trainer.state.output[0]["label"].shape == (2, 10, 6)
    assert trainer.state.batch[0]["weight"].shape == (1, 10, 6)
    assert 0.0 <= trainer.state.metrics["train_dice"] <= 1.0


def docs_train_config():
    """The ``train.json`` shown in docs/training_recipe.md."""
    text = (Path(__file__).parents[2] / "docs" / "training_recipe.md").read_text()
    return json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])


def test_the_documented_bundle_config_builds_and_runs(tmp_path):
    # the docs' train.json with the overrides a user would pass on the command line: tiny network and tiles
    for folder in ("images", "labels", "weights"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    for i, item in enumerate(items()):
        for folder, key in (("images", "image"), ("labels", "label"), ("weights", "weight")):
            tifffile.imwrite(tmp_path / "data" / folder / f"case{i}.tif", item[key][0, :20, :16].numpy())
    parser = ConfigParser(docs_train_config())
    parser["bundle_root"] = str(tmp_path)
    parser["network_def"] = {
        "_target_": "medunet.networks.UNet",
        "spatial_dims": 2,
        "in_channels": 1,
        "out_channels": 2,
        "channels": [4, 8],
        "padding": "valid",
    }
    parser["train#preprocessing#transforms#4#spatial_border"] = 8
    parser["train#preprocessing#transforms#5#roi_size"] = list(SIZE)
    parser["train#dataloader#num_workers"] = 0
    parser["train#trainer#max_epochs"] = 1
    trainer = parser.get_parsed_content("train#trainer")
    assert isinstance(trainer.prepare_batch, PrepareBatchWithWeight)
    assert len(trainer.data_loader.dataset) == 2
    trainer.run()
    assert torch.isfinite(torch.as_tensor(trainer.state.output[0]["loss"]))
    assert trainer.state.output[0]["label"].shape == (2, 10, 6)  # one-hot, cropped to the prediction
    assert 0.0 <= trainer.state.metrics["train_dice"] <= 1.0

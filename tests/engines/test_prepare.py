"""PlainTensorBatch: the trainer's network sees plain tensors that share the batch's data."""

import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.engines import SupervisedTrainer
from monai.engines.utils import default_prepare_batch

from medunet.engines import PlainTensorBatch, PrepareBatchWithWeight, as_plain_tensor


def meta_batch():
    image = MetaTensor(torch.rand(2, 1, 6, 5), affine=torch.eye(4) * 2)
    label = MetaTensor((torch.rand(2, 1, 6, 5) > 0.5).float())
    return {"image": image, "label": label}


def test_plain_batch_drops_metadata_without_copying():
    batch = meta_batch()
    image, label = PlainTensorBatch()(batch, torch.device("cpu"))
    assert type(image) is torch.Tensor and type(label) is torch.Tensor
    assert image.data_ptr() == batch["image"].data_ptr()
    reference = default_prepare_batch(batch, torch.device("cpu"))
    assert isinstance(reference[0], MetaTensor)  # what MONAI's default would hand the network
    assert torch.equal(image, reference[0].as_tensor()) and torch.equal(label, reference[1].as_tensor())


def test_plain_batch_passes_a_bare_tensor_and_no_label():
    x = torch.rand(2, 3)
    image, label = PlainTensorBatch()(x)
    assert image is x and label is None
    assert as_plain_tensor("not a tensor") == "not a tensor"


def test_weighted_batch_is_plain_too():
    batch = meta_batch()
    batch["weight"] = MetaTensor(torch.ones(2, 1, 6, 5))
    image, target = PrepareBatchWithWeight()(batch, torch.device("cpu"))
    assert type(image) is torch.Tensor and type(target) is torch.Tensor


def test_trainer_network_receives_plain_tensors():
    seen = []

    class Net(torch.nn.Conv2d):
        def forward(self, x):
            seen.append(type(x))
            return super().forward(x)

    net = Net(1, 1, 1)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=DataLoader(
            Dataset([{k: v[i] for k, v in meta_batch().items()} for i in range(2)]), batch_size=2
        ),
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), 0.1),
        loss_function=torch.nn.MSELoss(),
        prepare_batch=PlainTensorBatch(),
    )
    trainer.run()
    assert seen == [torch.Tensor]
    assert type(trainer.state.output[0]["pred"]) is torch.Tensor

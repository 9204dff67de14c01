import pytest
import torch
from ignite.engine import Engine, Events

from medunet.handlers import ResumeHandler, latest_checkpoint


def make_trainer(ckpt_dir, epochs, seen):
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    data = [torch.ones(4, 2)] * 3

    def step(engine, batch):
        optimizer.zero_grad()
        loss = net(batch).square().mean()
        loss.backward()
        optimizer.step()
        seen.append(engine.state.epoch)
        return loss.item()

    trainer = Engine(step)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: scheduler.step())
    ResumeHandler(ckpt_dir, {"network": net, "optimizer": optimizer, "lr_scheduler": scheduler}).attach(trainer)
    return trainer, data, net, optimizer


def test_a_second_run_continues_where_the_first_stopped(tmp_path):
    seen = []
    trainer, data, net, _ = make_trainer(tmp_path, 2, seen)
    trainer.run(data, max_epochs=2)
    assert latest_checkpoint(tmp_path).name == "checkpoint_epoch=2.pt"
    after_two = [p.detach().clone() for p in net.parameters()]

    seen2 = []
    trainer2, data2, net2, optimizer2 = make_trainer(tmp_path, 4, seen2)
    trainer2.run(data2, max_epochs=4)
    assert seen2 == [3, 3, 3, 4, 4, 4]  # epochs 1-2 are not repeated
    assert trainer2.state.epoch == 4
    assert optimizer2.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**4)  # the schedule went on, not restarted

    # the same 4 epochs in one go give the same weights
    seen3 = []
    trainer3, data3, net3, _ = make_trainer(tmp_path / "fresh", 4, seen3)
    trainer3.run(data3, max_epochs=4)
    for a, b in zip(net2.parameters(), net3.parameters()):
        torch.testing.assert_close(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(after_two, net2.parameters()))
    assert [p.name for p in sorted(tmp_path.glob("checkpoint_*.pt"))] == ["checkpoint_epoch=4.pt"]


def test_a_checkpoint_past_the_configured_epochs_is_an_error(tmp_path):
    trainer, data, *_ = make_trainer(tmp_path, 3, [])
    trainer.run(data, max_epochs=3)
    trainer2, data2, *_ = make_trainer(tmp_path, 2, [])
    with pytest.raises(ValueError, match="past the configured 2 epochs"):
        trainer2.run(data2, max_epochs=2)


def test_latest_checkpoint(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    for name in ["checkpoint_epoch=2.pt", "checkpoint_epoch=10.pt", "model.pt", "checkpoint_epoch=3.pt.tmp"]:
        (tmp_path / name).touch()
    assert latest_checkpoint(tmp_path).name == "checkpoint_epoch=10.pt"


def test_trainer_key_is_reserved(tmp_path):
    with pytest.raises(ValueError, match="trainer"):
        ResumeHandler(tmp_path, {"trainer": object()})

"""The style network's loss is CUT's: the mean of its real and fake terms, (L_real + L_fake) / 2, for
every adversarial loss, computed here directly from the networks as they were before the step (the
comparison with CUT's own code is benchmarks/compare_cut.py)."""

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import Callback
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.training.models.style_transfer import StyleTransfer
from tests.training.models.test_style_transfer import TINY, tiny_trainer

pytestmark = pytest.mark.usefixtures("one_thread")

CUT_STYLE_LOSS = {  # (L_real + L_fake) / 2 with CUT's per-term losses
    "least_squares": lambda r, f: 0.5 * ((r - 1).square().mean() + f.square().mean()),  # lsgan: MSE
    "non_saturating": lambda r, f: 0.5 * (F.softplus(-r).mean() + F.softplus(f).mean()),  # vanilla: BCE with logits
    "hinge": lambda r, f: 0.5 * (F.relu(1 - r).mean() + F.relu(1 + f).mean()),
}


@pytest.mark.parametrize("gan_loss", sorted(CUT_STYLE_LOSS))
def test_style_network_loss_is_the_mean_of_real_and_fake_terms_as_in_cut(tmp_path, gan_loss):
    torch.manual_seed(0)
    model = StyleTransfer(**TINY, gan_loss=gan_loss, nce_identity=False)
    content, style = torch.rand(2, 2, 3, 32, 32) * 2 - 1
    before: dict = {}
    logged: dict = {}

    class Capture(Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            before["G"] = {k: v.clone() for k, v in module.generator.state_dict().items()}
            before["D"] = {k: v.clone() for k, v in module.style_network.state_dict().items()}

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            logged.update({k: v.item() for k, v in trainer.callback_metrics.items()})

    trainer = tiny_trainer(tmp_path, max_steps=3, limit_val_batches=0, log_every_n_steps=1, callbacks=[Capture()])
    trainer.fit(model, DataLoader(TensorDataset(content, style), batch_size=2))
    model.generator.load_state_dict(before["G"])
    model.style_network.load_state_dict(before["D"])
    with torch.no_grad():
        expected = CUT_STYLE_LOSS[gan_loss](model.style_network(style), model.style_network(model.generator(content)))
    assert logged["train/style_loss"] == pytest.approx(expected.item(), rel=1e-5)

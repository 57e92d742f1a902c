"""What a GAN module writes into and checks in its checkpoints: the algorithm's name, from which the
inference commands pick the generator builder without the training stack, and a one-line reason when
a checkpoint's weights do not fit the networks built from the options."""

from __future__ import annotations

from torch import nn

from gan_lightning.checkpoints.reading import weights_that_do_not_fit
from gan_lightning.checkpoints.registry import GENERATORS
from gan_lightning.common.errors import UserError


class AlgorithmCheckpoints:
    """Part of ``GANModule``: its checkpoint hooks and generator builder."""

    def build_generator(self) -> nn.Module:
        """This algorithm's generator from its hyper-parameters: the registry's builder, which the
        inference commands also use to rebuild it from a checkpoint."""
        return GENERATORS[type(self).__name__](self.hparams)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Called before the weights are loaded: a one-line reason instead of load_state_dict's report.
        mismatch = weights_that_do_not_fit(self.state_dict(), checkpoint["state_dict"])
        if mismatch is not None:
            raise UserError(
                f"the checkpoint's weights do not fit this {type(self).__name__} ({mismatch}); options that shape "
                "the networks must stay as the checkpoint has them"
            )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Inference commands pick the generator builder from this, without importing the training stack.
        checkpoint["algorithm"] = type(self).__name__

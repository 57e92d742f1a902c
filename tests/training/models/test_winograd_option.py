"""StyleGAN's ``winograd`` option (CPU training with Winograd F(4x4, 3x3) convolutions) trains as the
direct convolutions do, to float tolerance, and really uses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gan_lightning.core.nets import layers
from tests.training.models.test_compiled_step import assert_same_weights, train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_stylegan_trained_with_winograd_equals_direct_convolutions(tmp_path: Path, monkeypatch) -> None:
    direct, _ = train(tmp_path / "direct", "StyleGAN")  # 2 batches: R1 and path length at step 0
    calls = []
    original = layers.winograd_conv3x3
    monkeypatch.setattr(layers, "winograd_conv3x3", lambda x, w: calls.append(1) or original(x, w))
    winograd, _ = train(tmp_path / "winograd", "StyleGAN", winograd=True)
    assert calls  # the tiny networks' 32 px layers ran as Winograd convolutions
    assert winograd.hparams.winograd is True
    assert_same_weights(direct, winograd, atol=1e-4)
    assert not layers._winograd_enabled.get()  # the option ends with the training step

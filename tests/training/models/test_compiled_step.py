"""`--model.init_args.compile true` trains the same as eager for VanillaGAN, StyleGAN and StyleTransfer
(the double-backward phases fall back to eager), and its checkpoints load anywhere without compile.

The default-suite tests compile with the "aot_eager" backend: it traces forward and backward through
the same torch.compile machinery (Dynamo graphs, AOTAutograd joint graph, guards, recompiles for
no-grad and frozen phases) in seconds, where inductor's C++ code generation takes minutes on this
machine's CPU; the inductor test is marked slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from gan_lightning.checkpoints.reading import load_generator
from gan_lightning.training.models.style_transfer import StyleTransfer
from tests.training.models import test_style_transfer, test_stylegan, test_vanilla_gan

pytestmark = pytest.mark.usefixtures("one_thread")

# Each case exercises its algorithm's double-backward phase (WGAN-GP, R1 + path length at step 0, R1).
CASES = {
    "VanillaGAN": (lambda **kw: test_vanilla_gan.tiny_model(gan_loss="wgan_gp", discriminator=dict(width=8, norm="layer"), **kw), test_vanilla_gan.tiny_data),
    "StyleGAN": (lambda **kw: test_stylegan.tiny_model(augment_p=0.2, **kw), test_stylegan.tiny_data),
    "StyleTransfer": (lambda **kw: StyleTransfer(**test_style_transfer.TINY, lambda_r1=0.1, **kw), test_style_transfer.tiny_data),
}


def train(tmp_path: Path, algorithm: str, batches: int = 2, **compile_options):
    build, data = CASES[algorithm]
    seed_everything(0)
    model = build(**compile_options)
    trainer = Trainer(
        default_root_dir=tmp_path, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, max_epochs=1, limit_train_batches=batches, limit_val_batches=0,
        num_sanity_val_steps=0, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(model, data())
    return model, trainer


def assert_same_weights(eager: torch.nn.Module, compiled: torch.nn.Module, atol: float) -> None:
    eager_state, compiled_state = eager.state_dict(), compiled.state_dict()
    assert list(eager_state) == list(compiled_state)  # no `_orig_mod.` keys: checkpoints stay interchangeable
    for name, value in eager_state.items():
        if value.is_floating_point():
            torch.testing.assert_close(compiled_state[name], value, atol=atol, rtol=1e-4, msg=lambda m: f"{name}: {m}")
        else:
            assert torch.equal(compiled_state[name], value), name


@pytest.mark.parametrize("algorithm", list(CASES))
def test_compiled_training_equals_eager_training(tmp_path: Path, algorithm: str) -> None:
    eager, _ = train(tmp_path / "eager", algorithm)
    compiled, trainer = train(tmp_path / "compiled", algorithm, compile=True, compile_backend="aot_eager")
    for name in compiled.compiled_networks:  # really compiled, not silently eager
        assert compiled.get_submodule(name)._compiled_call_impl is not None, name
    assert_same_weights(eager, compiled, atol=1e-5)
    # Its checkpoint loads into an eager model and into the inference generator.
    path = tmp_path / "compiled.ckpt"
    trainer.save_checkpoint(path)
    assert not [key for key in torch.load(path, weights_only=True)["state_dict"] if "_orig_mod" in key]
    reloaded = type(compiled).load_from_checkpoint(path, compile=False)
    assert_same_weights(compiled, reloaded, atol=0.0)
    assert load_generator(path) is not None


@pytest.mark.slow
def test_stylegan_compiled_with_inductor_equals_eager(tmp_path: Path) -> None:
    """Inductor on CPU (C++ code generation). Its own random-number kernels would draw other noise
    than eager; fallback_random makes it call the same torch RNG, so the weights can be compared."""
    eager, _ = train(tmp_path / "eager", "StyleGAN")
    with torch._inductor.config.patch(fallback_random=True):
        compiled, _ = train(tmp_path / "compiled", "StyleGAN", compile=True)
    assert_same_weights(eager, compiled, atol=1e-4)


@pytest.fixture
def restore_fp32_precision():
    saved = torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    yield
    torch.set_float32_matmul_precision(saved[0])
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved[1:]


@pytest.mark.parametrize("tf32", [False, True])
def test_tf32_option_sets_matmuls_and_convolutions_when_fit_starts(tmp_path: Path, tf32: bool, restore_fp32_precision) -> None:
    torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = "ieee" if tf32 else "tf32"
    train(tmp_path, "VanillaGAN", batches=1, tf32=tf32)
    expected = "tf32" if tf32 else "ieee"
    assert (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision) == (expected, expected)


@pytest.mark.parametrize("tf32", [False, True])
def test_tf32_option_after_lightnings_recommended_matmul_precision_keeps_it_readable(tmp_path: Path, tf32: bool, restore_fp32_precision) -> None:
    """Lightning's banner recommends ``torch.set_float32_matmul_precision("high")``; PyTorch refuses
    to report the precision once it was mixed with the legacy ``allow_tf32`` flags."""
    torch.set_float32_matmul_precision("high")
    train(tmp_path, "VanillaGAN", batches=1, tf32=tf32)
    assert torch.get_float32_matmul_precision() in ("highest", "high", "medium")
    assert torch.backends.cuda.matmul.fp32_precision == ("tf32" if tf32 else "ieee")

"""The model options of a run from `--ckpt_path FILE`: the checkpoint's, except those given on the
command line, and never an option the resumed optimizer state holds."""

from __future__ import annotations

import pytest
from jsonargparse import Namespace

from gan_lightning.cli.command_line import given_model_options, given_options
from gan_lightning.cli.resume_options import OPTIMIZER_STATE_OPTIONS, merged_model_options
from gan_lightning.common.errors import UserError

CKPT = "runs/a/last.ckpt"


def checkpoint_options() -> Namespace:
    return Namespace(lr=0.002, r1_gamma=10.0, betas=(0.0, 0.99), generator=Namespace(z_dim=512, w_dim=512))


def config_options() -> Namespace:
    """What the config file and the command line gave, as parsed (the file's values differ everywhere)."""
    return Namespace(lr=0.01, r1_gamma=1.0, betas=(0.5, 0.9), generator=Namespace(z_dim=64, w_dim=64))


def test_without_options_given_the_checkpoint_wins_over_the_config_file() -> None:
    merged, report = merged_model_options(checkpoint_options(), config_options(), [], fit=True, ckpt_path=CKPT)
    assert merged == checkpoint_options() and report is None


def test_an_option_given_on_the_command_line_wins_and_is_reported() -> None:
    merged, report = merged_model_options(checkpoint_options(), config_options(), ["r1_gamma", "generator.z_dim"], fit=True, ckpt_path=CKPT)
    assert merged.r1_gamma == 1.0 and merged.generator.z_dim == 64
    assert merged.lr == 0.002 and merged.generator.w_dim == 512  # not given: the checkpoint's
    assert report == (
        f"--ckpt_path {CKPT}: model options from the checkpoint, except those given here: "
        "r1_gamma 1.0 (checkpoint: 10.0), generator.z_dim 64 (checkpoint: 512)"
    )


def test_an_option_given_with_the_checkpoints_value_is_not_reported() -> None:
    config = config_options()
    config.lr = 0.002
    merged, report = merged_model_options(checkpoint_options(), config, ["lr"], fit=True, ckpt_path=CKPT)
    assert merged == checkpoint_options() and report is None


@pytest.mark.parametrize("key", ["lr", "betas"])
def test_fit_refuses_to_change_what_the_optimizer_state_holds(key: str) -> None:
    with pytest.raises(UserError, match=rf"--model.init_args.{key} .* cannot replace the checkpoint's .* '{CKPT}'"):
        merged_model_options(checkpoint_options(), config_options(), [key], fit=True, ckpt_path=CKPT)


def test_the_optimizer_state_options_are_matched_by_their_last_name() -> None:
    checkpoint, config = Namespace(generator_opt=Namespace(lr=0.1)), Namespace(generator_opt=Namespace(lr=0.2))
    with pytest.raises(UserError):
        merged_model_options(checkpoint, config, ["generator_opt.lr"], fit=True, ckpt_path=CKPT)
    assert {"lr", "generator_lr", "discriminator_lr", "betas"} == set(OPTIMIZER_STATE_OPTIONS)


def test_validate_test_and_predict_may_change_any_option() -> None:
    merged, report = merged_model_options(checkpoint_options(), config_options(), ["lr"], fit=False, ckpt_path=CKPT)
    assert merged.lr == 0.01 and "lr 0.01 (checkpoint: 0.002)" in report


def test_the_inputs_are_left_as_they_were() -> None:
    checkpoint, config = checkpoint_options(), config_options()
    merged_model_options(checkpoint, config, ["r1_gamma", "generator.z_dim"], fit=True, ckpt_path=CKPT)
    assert checkpoint == checkpoint_options() and config == config_options()


def test_given_options_are_init_args_keys_in_every_spelling() -> None:
    line = ["fit", "--model.init_args.lr", "0.1", "--model.r1_gamma=2", "--model.init_args.generator.z_dim", "8",
            "--model.lr", "0.2", "--model.class_path", "StyleGAN", "--data.init_args.batch_size", "4", "--config", "x.yaml"]  # fmt: skip
    assert given_model_options(line) == ["lr", "r1_gamma", "generator.z_dim"]
    assert given_options(line, "data") == ["batch_size"]

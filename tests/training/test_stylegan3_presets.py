"""A researcher picks configs/stylegan3_t.yaml or stylegan3_r.yaml and gets NVlabs' stylegan3 train.py
values for --cfg=stylegan3-t / -r on 8 GPUs at --batch=32 (their code itself is read by
benchmarks/compare_nvlabs3_presets.py)."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO, run_cli

GPUS, BATCH = 8, 32
# Written from their train.py (and the defaults it leaves to training_loop, StyleGAN2Loss and the
# networks): --glr default 0.0025 for stylegan3, --dlr 0.002, betas (0, 0.99), map 2, cbase 32768 /
# cmax 512 (R: both doubled for G), ema_kimg = batch * 10 / 32, magnitude_ema_beta = 0.5 ** (batch /
# 20000), no lazy G phase and pl_weight 0, no style mixing, lazy R1 every 16, R: conv_kernel 1, radial
# filters, blur_init_sigma 10 fading over batch * 200 / 32 kimg. Gamma: their docs/configs.md table
# at 256 px (T and R: 2).
COMMON = dict(
    lr=0.0025, d_lr=0.002, betas=[0.0, 0.99], mapping_layers=2, z_dim=512, w_dim=512, d_channel_base=32768, d_channel_max=512,
    ema_kimg=BATCH * 10 / 32, ema_rampup=0.05, magnitude_ema_beta=0.5 ** (BATCH / (20 * 1e3)), pl_weight=0.0, style_mixing_prob=0.0,
    r1_interval=16, r1_gamma=2.0, resolution=256, mbstd_group_size=4, num_fp16_res=4, conv_clamp=256, max_kimg=25000,
    ada_target=0.6, ada_kimg=500.0, num_layers=14,
)  # fmt: skip
CONFIGS = {
    "stylegan3_t": dict(channel_base=32768, channel_max=512, conv_kernel=3, use_radial_filters=False, blur_init_sigma=0.0),
    "stylegan3_r": dict(channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True, blur_init_sigma=10.0, blur_fade_kimg=BATCH * 200 / 32),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_stylegan3_preset_holds_nvlabs_train_py_values(name: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", REPO / "configs" / f"{name}.yaml", "--print_config")
    assert exit_info.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    model, data = config["model"]["init_args"], config["data"]["init_args"]
    g, d = model["stylegan3"], model["discriminator"]
    ours = {
        **{key: model[key] for key in ("lr", "d_lr", "betas", "ema_kimg", "ema_rampup", "pl_weight", "style_mixing_prob", "r1_interval",
                                       "r1_gamma", "max_kimg", "ada_target", "ada_kimg", "blur_init_sigma")},
        **{key: g[key] for key in ("mapping_layers", "z_dim", "w_dim", "magnitude_ema_beta", "num_fp16_res", "conv_clamp", "num_layers",
                                   "channel_base", "channel_max", "conv_kernel", "use_radial_filters")},
        "d_channel_base": d["channel_base"], "d_channel_max": d["channel_max"], "mbstd_group_size": d["mbstd_group_size"],
        "resolution": data["resolution"],
    }  # fmt: skip
    expected = {**COMMON, **CONFIGS[name]}
    if "blur_fade_kimg" in expected:
        ours["blur_fade_kimg"] = model["blur_fade_kimg"]
    assert ours == expected
    assert d["num_fp16_res"] == 4 and d["conv_clamp"] == 256
    assert data["batch_size"] * GPUS == BATCH  # per GPU on their 8

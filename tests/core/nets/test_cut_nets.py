"""CUT networks: generator, PatchGAN style network, PatchNCE content network."""

import pytest
import torch

from gan_lightning.common.errors import UserError
from gan_lightning.common.torch_utils import TANH_MARGIN
from gan_lightning.core.nets.cut_blocks import BlurDownsample, BlurUpsample
from gan_lightning.core.nets.patchgan import PatchGANDiscriminator
from gan_lightning.core.nets.patchnce import PatchNCEHeads, sample_patch_ids
from gan_lightning.core.nets.resnet import ResnetGenerator


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("antialias", [True, False])
def test_parameter_counts_match_reference_code(antialias):
    assert count(ResnetGenerator(ngf=64, n_blocks=9, antialias=antialias)) == 11_378_179
    assert count(PatchGANDiscriminator(ndf=64, n_layers=3, antialias=antialias)) == 2_764_737


def test_instance_norm_has_no_affine_parameters_and_no_running_stats():
    g = ResnetGenerator(ngf=8, n_blocks=1)
    norms = [m for m in g.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(not m.affine and not m.track_running_stats for m in norms)
    assert not any("kernel" in k for k in g.state_dict())  # fixed blur filters are not checkpointed


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("size", [(32, 48), (36, 20), (30, 45), (17, 9)])
def test_generator_keeps_any_non_square_size(antialias, size):
    g = ResnetGenerator(ngf=8, n_blocks=2, antialias=antialias)
    y = g(torch.randn(2, 3, *size))
    assert y.shape == (2, 3, *size)
    assert y.abs().max() <= 1.0


def test_generator_maps_channels():
    g = ResnetGenerator(in_channels=1, out_channels=3, ngf=8, n_blocks=1)
    assert g(torch.randn(1, 1, 16, 24)).shape == (1, 3, 16, 24)


def test_encoder_features_match_reported_channels_and_resolutions():
    g = ResnetGenerator(ngf=8, n_blocks=9)
    layers = g.paper_nce_layers
    assert layers == (0, 4, 8, 12, 16)
    feats = g.encode(torch.randn(2, 3, 32, 48), layers)
    assert [f.shape[1] for f in feats] == g.feature_channels(layers) == [3, 16, 32, 32, 32]
    # RGB pixels (reflect-padded by 3), first down conv at full size, second at half, blocks at quarter
    assert [tuple(f.shape[2:]) for f in feats] == [(38, 54), (32, 48), (16, 24), (8, 12), (8, 12)]
    # any order, any subset
    assert [f.shape[1] for f in g.encode(torch.randn(1, 3, 16, 16), [8, 0])] == [32, 3]


def test_paper_layers_without_antialias_are_the_same_paper_blocks():
    g = ResnetGenerator(ngf=8, n_blocks=9, antialias=False)
    assert g.feature_channels(g.paper_nce_layers) == [3, 16, 32, 32, 32]
    assert isinstance(g.encoder[g.paper_nce_layers[1]], torch.nn.Conv2d)
    assert isinstance(g.encoder[g.paper_nce_layers[2]], torch.nn.Conv2d)


def test_encoder_features_carry_gradients_to_the_generator():
    g = ResnetGenerator(ngf=8, n_blocks=2)
    sum(f.sum() for f in g.encode(torch.randn(1, 3, 16, 16), [4, 12])).backward()
    assert g.encoder[4].weight.grad is not None and g.encoder[4].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [[], [99], [-1]])
def test_bad_layer_indices_are_rejected(bad):
    g = ResnetGenerator(ngf=8, n_blocks=1)
    with pytest.raises(UserError, match="layer"):
        g.feature_channels(bad)


def test_bad_input_shape_is_rejected():
    g = ResnetGenerator(ngf=8, n_blocks=1)
    with pytest.raises(ValueError, match="input shape"):
        g(torch.randn(1, 4, 16, 16))
    with pytest.raises(UserError, match="n_blocks"):
        ResnetGenerator(n_blocks=-1)


def test_blur_resampling_keeps_constants_and_sizes():
    x = torch.full((1, 4, 10, 14), 0.7)
    down = BlurDownsample(4)(x)
    up = BlurUpsample(4)(x)
    assert down.shape == (1, 4, 5, 7) and torch.allclose(down, x[:, :, :5, :7])
    assert up.shape == (1, 4, 20, 28) and torch.allclose(up, torch.full_like(up, 0.7))


@pytest.mark.parametrize("antialias", [True, False])
def test_patchgan_gives_a_logit_map_at_non_square_sizes(antialias):
    d = PatchGANDiscriminator(ndf=8, n_layers=3, antialias=antialias)
    logits = d(torch.randn(2, 3, 64, 96))
    assert logits.shape[:2] == (2, 1) and logits.shape[3] > logits.shape[2] > 1


def test_patchgan_without_antialias_gives_the_classic_30x30_map_at_256px():
    d = PatchGANDiscriminator(ndf=8, n_layers=3, antialias=False)
    assert d(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)


def test_patchnce_heads_project_sampled_patches_to_unit_256d_vectors():
    g = ResnetGenerator(ngf=8, n_blocks=5)
    layers = g.paper_nce_layers
    heads = PatchNCEHeads(in_channels=g.feature_channels(layers))
    assert len(list(heads.parameters())) == 4 * len(layers)  # built eagerly, two Linear per layer
    feats = g.encode(torch.randn(2, 3, 32, 48), layers)
    ids = sample_patch_ids(feats, num_patches=256)
    # the deepest maps (8x12 = 96 positions) have fewer than 256 positions: all of them are used
    assert [i.numel() for i in ids] == [256, 256, 256, 96, 96]
    assert all(i.unique().numel() == i.numel() for i in ids)
    out = heads(feats, ids)
    assert [tuple(o.shape) for o in out] == [(2, 256, 256)] * 3 + [(2, 96, 256)] * 2
    for o in out:  # unit length up to the reference's additive 1e-7 (raw projections are tiny at init)
        norms = o.norm(dim=-1)
        assert ((norms > 0.95) & (norms <= 1.0)).all()
    large = heads([f * 1e4 for f in feats], ids)
    assert all(torch.allclose(o.norm(dim=-1), torch.ones(o.shape[:2]), atol=1e-4) for o in large)


def test_patchnce_heads_reuse_ids_so_same_position_is_compared():
    heads = PatchNCEHeads(in_channels=[5])
    feat = torch.randn(1, 5, 6, 7)
    ids = sample_patch_ids([feat], num_patches=10, generator=torch.Generator().manual_seed(0))
    out = heads([feat], ids)[0]
    # position p of the output is the projection of the feature at the flat index ids[p]
    p = 3
    row, col = divmod(int(ids[0][p]), 7)
    direct = heads.heads[0](feat[0, :, row, col])
    assert torch.allclose(out[0, p], direct, atol=1e-6)
    same = sample_patch_ids([feat], num_patches=10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(same[0], ids[0])


def test_patchnce_heads_reject_mismatched_inputs():
    heads = PatchNCEHeads(in_channels=[3, 8])
    feats = [torch.randn(1, 3, 4, 4), torch.randn(1, 8, 4, 4)]
    with pytest.raises(ValueError, match="one per head"):
        heads(feats[:1], sample_patch_ids(feats[:1], 4))
    with pytest.raises(ValueError, match="channels"):
        heads(feats[::-1], sample_patch_ids(feats[::-1], 4))
    with pytest.raises(UserError, match="in_channels"):
        PatchNCEHeads(in_channels=[])
    with pytest.raises(UserError, match="num_patches"):
        sample_patch_ids(feats, 0)


@pytest.mark.slow
def test_blur_upsampling_compiles_with_inductor_and_gives_eager_values_and_gradients():
    # torch 2.14 inductor on CPU failed a stride assertion in replication_pad2d's backward, which
    # crashed StyleTransfer's training with compile true.
    torch.manual_seed(0)
    upsample = BlurUpsample(3)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    eager_y = upsample(x)
    (eager_grad,) = torch.autograd.grad(eager_y.square().sum(), x)
    compiled = torch.compile(upsample, backend="inductor")
    y = compiled(x)
    (grad,) = torch.autograd.grad(y.square().sum(), x)
    torch.testing.assert_close(y, eager_y)
    torch.testing.assert_close(grad, eager_grad)


def test_a_residual_generator_starts_as_the_identity_and_learns_a_change():
    torch.manual_seed(0)
    generator = ResnetGenerator(ngf=8, n_blocks=1, residual=True)
    x = torch.rand(2, 3, 30, 34) * 2 - 1
    x[0, 0, 0, 0] = 1.0  # the range's ends stay finite
    y = generator(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert (y - x).abs().max() <= TANH_MARGIN + 1e-6  # only the ends are pulled in, by the clamp
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-2)
    for _ in range(3):  # towards a brighter image: the zero-started last convolution gets gradients and moves
        optimizer.zero_grad()
        (generator(x) - (x + 0.5).clamp(-1, 1)).square().mean().backward()
        optimizer.step()
    assert generator.decoder[-1].weight.abs().sum() > 0 and (generator(x) - x).mean() > 0.01
    assert set(generator.state_dict()) == set(ResnetGenerator(ngf=8, n_blocks=1).state_dict())  # same weights, one more setting


def test_a_residual_generator_learns_to_change_black_and_white_pixels_too():
    # Pure black and white sit at tanh's flat ends: with too small a margin (1e-3) they got a 500th
    # of the gradient and stayed as they were (this half's error fell 4% here, measured), while the
    # greys beside them learnt the change.
    torch.manual_seed(0)
    generator = ResnetGenerator(ngf=8, n_blocks=1, residual=True)
    x = torch.rand(1, 3, 32, 32) - 0.5
    x[..., :16] = torch.where(torch.rand(1, 3, 32, 16) < 0.5, -1.0, 1.0)  # the left half black and white
    target = 0.5 * x  # half the contrast

    def black_and_white_error() -> float:
        with torch.no_grad():
            return (generator(x) - target)[..., :16].abs().mean().item()

    before = black_and_white_error()
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        (generator(x) - target).square().mean().backward()
        optimizer.step()
    assert black_and_white_error() < 0.8 * before, (black_and_white_error(), before)


def test_a_residual_generator_needs_as_many_output_as_input_channels():
    with pytest.raises(UserError, match="generator.residual with 1 input and 3 output channels is invalid"):
        ResnetGenerator(in_channels=1, out_channels=3, residual=True)


def test_a_checkpoint_rebuilds_a_residual_generator_as_trained():
    from gan_lightning.checkpoints.reading import generator_from_checkpoint
    from gan_lightning.training.models.style_transfer import StyleTransfer

    model = StyleTransfer(resolution=32, generator=dict(width=8, blocks=1, residual=True), style_network=dict(width=8), num_patches=16, lambda_gan=0.0, lambda_nce=0.0, nce_identity=False, lambda_style=1.0, perceptual=dict(width=8))
    torch.nn.init.normal_(model.generator.decoder[-1].weight, std=0.1)  # as after training: not the identity
    checkpoint = {"algorithm": "StyleTransfer", "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}
    rebuilt = generator_from_checkpoint(checkpoint)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert rebuilt.residual and torch.equal(rebuilt(x), model.generator.eval()(x))


def test_the_generator_config_sets_the_initial_weights_scale_and_checkpoints_without_it_load():
    from gan_lightning.checkpoints.reading import generator_from_checkpoint
    from gan_lightning.training.models.style_transfer import StyleTransfer

    def first_conv_std(gain: float | None) -> tuple[float, StyleTransfer]:
        torch.manual_seed(0)
        size = dict(width=16, blocks=1) | ({} if gain is None else {"init_gain": gain})
        model = StyleTransfer(resolution=32, generator=size, style_network=dict(width=8), num_patches=16, lambda_gan=0.0, lambda_nce=0.0, nce_identity=False, lambda_style=1.0, perceptual=dict(width=8))
        return float(model.generator.encoder[1].weight.std()), model

    # Xavier normal: std = gain * sqrt(2 / (fan_in + fan_out)), the 7x7 conv from 3 to 16 channels
    expected = (2 / (3 * 49 + 16 * 49)) ** 0.5
    default_std, old = first_conv_std(None)
    assert default_std == pytest.approx(0.02 * expected, rel=0.1)  # CUT's gain stays the default
    unit_std, _ = first_conv_std(1.0)
    assert unit_std == pytest.approx(expected, rel=0.1)
    hyper_parameters = dict(old.hparams) | {"generator": {"width": 16, "blocks": 1, "residual": False}}  # saved before init_gain existed
    rebuilt = generator_from_checkpoint({"algorithm": "StyleTransfer", "hyper_parameters": hyper_parameters, "state_dict": old.state_dict()})
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(rebuilt(x), old.generator.eval()(x))


def test_a_generator_needs_a_positive_initial_gain():
    with pytest.raises(UserError, match="generator.init_gain must be > 0, got 0"):
        ResnetGenerator(init_gain=0.0)


def _fit_half_contrast(contrast_gate: float) -> float:
    """L1 left after fitting two photos of different contrast to each at half its contrast (in tanh's argument)."""
    torch.manual_seed(0)
    generator = ResnetGenerator(ngf=8, n_blocks=1, residual=True, contrast_gate=contrast_gate, init_gain=1.0)
    pattern = torch.rand(1, 3, 32, 32) * 2 - 1
    x = torch.cat([0.9 * pattern, 0.3 * pattern])  # one picture, two contrasts: instance norms see the same
    target = torch.tanh(0.5 * torch.atanh(x))
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        (generator(x) - target).abs().mean().backward()
        optimizer.step()
    return float((generator(x) - target).abs().mean().detach())


def test_the_contrast_gate_scales_each_photos_contrast_which_an_added_change_cannot():
    # The added f sees the photo through instance norms, blind to its contrast: halving both photos'
    # contrasts needs a change proportional to each, which the gate's 4 ** tanh(g) * atanh(x) is.
    added, gated = _fit_half_contrast(1.0), _fit_half_contrast(4.0)
    assert gated < 0.5 * added, (gated, added)


def test_a_contrast_gated_generator_starts_as_the_identity_needs_the_residual_and_rebuilds_from_its_checkpoint():
    from gan_lightning.checkpoints.reading import generator_from_checkpoint
    from gan_lightning.training.models.style_transfer import StyleTransfer

    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert (ResnetGenerator(ngf=8, n_blocks=1, residual=True, contrast_gate=2.0)(x) - x).abs().max() <= TANH_MARGIN + 1e-6
    with pytest.raises(UserError, match="generator.contrast_gate 2.0 with generator.residual false is invalid"):
        ResnetGenerator(ngf=8, n_blocks=1, contrast_gate=2.0)
    with pytest.raises(UserError, match="generator.contrast_gate must be at least 1, got 0.5"):
        ResnetGenerator(ngf=8, n_blocks=1, residual=True, contrast_gate=0.5)
    generator = ResnetGenerator(ngf=8, n_blocks=1, residual=True, contrast_gate=2.0)
    torch.nn.init.constant_(generator.decoder[-1].bias, 100.0)  # the gate's pre-activation far out: the bound holds
    torch.nn.init.zeros_(generator.decoder[-1].bias[:3])
    torch.testing.assert_close(generator(x * 0.5), torch.tanh(2 * torch.atanh(x * 0.5)))
    model = StyleTransfer(resolution=32, generator=dict(width=8, blocks=1, residual=True, contrast_gate=2.0), style_network=dict(width=8), num_patches=16, lambda_gan=0.0, lambda_nce=0.0, nce_identity=False, lambda_style=1.0, perceptual=dict(width=8))
    torch.nn.init.normal_(model.generator.decoder[-1].weight, std=0.1)  # as after training: gate and change both moved
    checkpoint = {"algorithm": "StyleTransfer", "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}
    rebuilt = generator_from_checkpoint(checkpoint)
    assert rebuilt.contrast_gate == 2.0 and torch.equal(rebuilt(x), model.generator.eval()(x))


def test_decoder_noise_is_new_each_call_the_same_under_one_seed_learnt_and_rebuilt_from_its_checkpoint():
    from gan_lightning.checkpoints.reading import generator_from_checkpoint
    from gan_lightning.core.nets.resnet import ChannelNoise
    from gan_lightning.training.models.style_transfer import StyleTransfer

    x = torch.rand(1, 3, 32, 32) * 2 - 1
    plain = ResnetGenerator(ngf=8, n_blocks=1, residual=True, init_gain=1.0)
    assert not any(isinstance(m, ChannelNoise) for m in plain.modules())  # 0: nothing added, checkpoints as before
    noisy = ResnetGenerator(ngf=8, n_blocks=1, residual=True, init_gain=1.0, noise=0.5)
    assert [m.strength.shape[1] for m in noisy.modules() if isinstance(m, ChannelNoise)] == [32, 16, 8]  # before each decoder stage
    torch.nn.init.normal_(noisy.decoder[-1].weight, std=0.1)  # as after training: the output depends on the features
    assert not torch.equal(noisy(x), noisy(x))
    torch.manual_seed(3)
    first = noisy(x)
    torch.manual_seed(3)
    torch.testing.assert_close(noisy(x), first, rtol=0, atol=0)
    noisy(x).square().mean().backward()
    assert all(m.strength.grad.abs().sum() > 0 for m in noisy.modules() if isinstance(m, ChannelNoise))
    with pytest.raises(UserError, match="generator.noise must be at least 0, got -0.1"):
        ResnetGenerator(ngf=8, n_blocks=1, noise=-0.1)

    model = StyleTransfer(resolution=32, generator=dict(width=8, blocks=1, residual=True, noise=0.5), style_network=dict(width=8), num_patches=16, lambda_gan=0.0, lambda_nce=0.0, nce_identity=False, lambda_style=1.0, perceptual=dict(width=8))
    torch.nn.init.normal_(model.generator.decoder[-1].weight, std=0.1)
    checkpoint = {"algorithm": "StyleTransfer", "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}
    rebuilt = generator_from_checkpoint(checkpoint)
    torch.manual_seed(5)
    expected = model.generator.eval()(x)
    torch.manual_seed(5)
    assert rebuilt.noise == 0.5 and torch.equal(rebuilt(x), expected)


def test_noise_given_as_a_field_is_the_drawn_noise_read_at_each_stage_and_checked():
    """``forward(x, noise)``: stage k adds channel k of the field every 4 / 2 / 1 pixels. Filled
    with what the seeded draw gives, the field reproduces the drawn output exactly."""
    torch.manual_seed(0)
    generator = ResnetGenerator(ngf=8, n_blocks=1, residual=True, init_gain=1.0, noise=0.5).eval()
    torch.nn.init.normal_(generator.decoder[-1].weight, std=0.1)
    x = torch.rand(2, 3, 16, 24) * 2 - 1
    torch.manual_seed(4)
    drawn = generator(x)
    torch.manual_seed(4)
    stages = [torch.randn(2, 1, 16 // step, 24 // step) for step in (4, 2, 1)]  # the draw's order
    field = torch.randn(2, 3, 16, 24)  # values no stage reads stay random
    for k, (step, values) in enumerate(zip((4, 2, 1), stages)):
        field[:, k : k + 1, ::step, ::step] = values
    torch.testing.assert_close(generator(x, field), drawn, rtol=0, atol=0)
    odd = torch.rand(1, 3, 13, 18) * 2 - 1  # padded like the photo
    assert torch.equal(generator(odd, torch.ones(1, 3, 13, 18)), generator(odd, torch.ones(1, 3, 13, 18)))
    with pytest.raises(ValueError, match=r"noise shape \(2, 1, 16, 24\) is invalid; allowed: \(2, 3, 16, 24\)"):
        generator(x, torch.zeros(2, 1, 16, 24))
    with pytest.raises(ValueError, match="generator.noise 0"):
        ResnetGenerator(ngf=8, n_blocks=1)(x, field)

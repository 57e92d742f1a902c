"""Small pure loss functions. Each states the paper's equation in one comment line.

Logits are the discriminator's raw outputs (any shape); every loss returns a scalar mean.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lightning.common.errors import UserError

# Losses of each logit on its own: every algorithm with a discriminator (style transfer's too).
AdversarialLoss = Literal["non_saturating", "hinge", "least_squares", "wgan_gp"]
ADVERSARIAL_LOSSES: tuple[str, ...] = get_args(AdversarialLoss)
# Those and the relativistic pairing of a real with a fake, whose generator step needs D(real) too:
# the G/D algorithms (VanillaGAN, StyleGAN, R3GAN).
GANLoss = Literal["non_saturating", "hinge", "least_squares", "wgan_gp", "relativistic"]
GAN_LOSSES: tuple[str, ...] = get_args(GANLoss)


# --- adversarial losses (discriminator side) -----------------------------------------------------


def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    # Goodfellow et al. 2014: E[softplus(-D(x))] + E[softplus(D(G(z)))]
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def d_hinge_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    # Lim & Ye 2017: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def d_least_squares_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    # Mao et al. 2017 (a=0, b=1): 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]
    return 0.5 * ((real_logits - 1.0).square().mean() + fake_logits.square().mean())


def d_wasserstein_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    # Arjovsky et al. 2017: E[D(G(z))] - E[D(x)]  (add the gradient penalty for WGAN-GP)
    return fake_logits.mean() - real_logits.mean()


def d_relativistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    # Jolicoeur-Martineau 2019, RpGAN (Huang et al. 2024, eq. 2): E[softplus(-(D(x) - D(G(z))))], pairs by index
    return F.softplus(-(real_logits - fake_logits)).mean()


# --- adversarial losses (generator side) ---------------------------------------------------------


def g_nonsaturating_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    # Goodfellow et al. 2014, non-saturating: E[softplus(-D(G(z)))] = -E[log sigmoid(D(G(z)))]
    return F.softplus(-fake_logits).mean()


def g_hinge_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    # Lim & Ye 2017 / Miyato et al. 2018: -E[D(G(z))]
    return -fake_logits.mean()


def g_least_squares_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    # Mao et al. 2017 (c=1): 1/2 E[(D(G(z)) - 1)^2]
    return 0.5 * (fake_logits - 1.0).square().mean()


def g_wasserstein_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    # Arjovsky et al. 2017: -E[D(G(z))]
    return -fake_logits.mean()


def g_relativistic_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    # RpGAN, the generator's side (the pair swapped): E[softplus(-(D(G(z)) - D(x)))]
    if real_logits is None:
        raise ValueError("the relativistic generator loss needs the real logits")
    return F.softplus(-(fake_logits - real_logits)).mean()


# name -> (discriminator loss, generator loss)
_ADVERSARIAL = {
    "non_saturating": (d_logistic_loss, g_nonsaturating_loss),
    "hinge": (d_hinge_loss, g_hinge_loss),
    "least_squares": (d_least_squares_loss, g_least_squares_loss),
    "wgan_gp": (d_wasserstein_loss, g_wasserstein_loss),
    "relativistic": (d_relativistic_loss, g_relativistic_loss),
}
assert tuple(_ADVERSARIAL) == GAN_LOSSES and GAN_LOSSES[: len(ADVERSARIAL_LOSSES)] == ADVERSARIAL_LOSSES


def check_adversarial_loss(name: str, allowed: tuple[str, ...] = ADVERSARIAL_LOSSES) -> str:
    if name not in allowed:
        raise UserError(f"unknown adversarial loss {name!r}; allowed: {', '.join(allowed)}")
    return name


def discriminator_loss(name: str, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return _ADVERSARIAL[check_adversarial_loss(name, GAN_LOSSES)][0](real_logits, fake_logits)


def needs_real_logits(name: str) -> bool:
    """Whether the generator's loss ``name`` compares with D(real) (the generator step then runs D on reals)."""
    return check_adversarial_loss(name, GAN_LOSSES) == "relativistic"


def generator_loss(name: str, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """``real_logits``: D on a real batch paired with the fakes, needed by the relativistic loss only."""
    return _ADVERSARIAL[check_adversarial_loss(name, GAN_LOSSES)][1](fake_logits, real_logits)


# --- gradient penalties --------------------------------------------------------------------------


def input_gradients(outputs: Tensor, inputs: Tensor) -> Tensor:
    """d(sum outputs)/d(inputs) with a graph, so a penalty on it can be back-propagated.

    Taken unscaled under a GradScaler, as NVlabs does: the gradient of a sum of O(1) outputs fits
    float16 as it is, whereas multiplying it by the loss scale (65536 at the start) overflows in the
    float16 backward, where a skipped step cannot undo it (the running mean path length keeps the inf).
    The outer backward of the penalty is scaled as any loss. Uses ``autograd.grad`` rather than a
    second ``backward`` so that DDP's gradient reducer only sees the final, normal backward.
    """
    # Outside autocast, as any backward: each op's gradient in the dtype its forward ran in (under
    # autocast, float32 layers such as instance normalisation would be differentiated in float16).
    with torch.autocast(inputs.device.type, enabled=False):
        (grads,) = torch.autograd.grad(outputs=outputs.sum(), inputs=inputs, create_graph=True)
    return grads


def zero_centred_penalty(logits: Tensor, images: Tensor) -> Tensor:
    """Per sample ||grad_x D(x)||^2 (N,), in float32."""
    grads = input_gradients(logits, images)
    return grads.float().square().sum(dim=list(range(1, grads.ndim)))


def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    # Mescheder et al. 2018, R1: E[ ||grad_x D(x)||^2 ] on real data (multiply by gamma/2 outside)
    return zero_centred_penalty(real_logits, real_images).mean()


def r2_penalty(fake_logits: Tensor, fake_images: Tensor) -> Tensor:
    # Roth et al. 2017 / Huang et al. 2024, R2: E[ ||grad_x D(x)||^2 ] on generated data (times gamma/2 outside)
    return zero_centred_penalty(fake_logits, fake_images).mean()


def check_penalty_weights(lambda_r1: float, lambda_r2: float) -> None:
    for name, value in (("lambda_r1", lambda_r1), ("lambda_r2", lambda_r2)):
        if not value >= 0:
            raise UserError(f"{name}={value} is invalid; allowed: >= 0 (0 switches the penalty off)")


def wgan_gradient_penalty(interpolate_logits: Tensor, interpolates: Tensor) -> Tensor:
    # Gulrajani et al. 2017: E[ (||grad_x D(x_hat)||_2 - 1)^2 ], x_hat between real and fake
    grads = input_gradients(interpolate_logits, interpolates)
    norms = grads.float().flatten(1).norm(2, dim=1)
    return (norms - 1.0).square().mean()


def path_length_penalty(
    images: Tensor, ws: Tensor, mean_path_length: Tensor, decay: float = 0.01
) -> tuple[Tensor, Tensor, Tensor]:
    """StyleGAN2 path length regularization on images = g(ws), ws of shape (N, num_ws, w_dim).

    Returns (penalty, path_lengths, new_mean_path_length); multiply the penalty by the weight outside.
    """
    # Karras et al. 2020, eq. 4: E_{w,y}[ (||J_w^T y||_2 - a)^2 ],  y ~ N(0, I) / sqrt(H*W)
    noise = torch.randn_like(images) / (images.shape[2] * images.shape[3]) ** 0.5
    grads = input_gradients(images * noise, ws)
    path_lengths = grads.float().square().sum(dim=2).mean(dim=1).sqrt()
    # a is the running mean of the path lengths, updated with an exponential decay; the penalty's
    # gradient also flows through this update (as in NVlabs' and rosinality's code)
    new_mean = mean_path_length.lerp(path_lengths.mean(), decay)
    penalty = (path_lengths - new_mean).square().mean()
    return penalty, path_lengths.detach(), new_mean.detach()


# --- contrastive content loss (CUT) --------------------------------------------------------------


def patch_nce_loss(query: Tensor, key: Tensor, temperature: float = 0.07) -> Tensor:
    """PatchNCE between projected patches of the output (``query``) and of the input (``key``).

    Both are (G, P, D), L2-normalised along D. Patch p of the query has key p as its positive and
    the other P - 1 keys of the same group g as negatives: one group per image for CUT; reshape to
    (1, N*P, D) to draw negatives from the whole batch (single-image training). The keys are
    detached: they are the targets, as in the reference implementation. Returns the mean over all
    G*P patches.
    """
    if query.ndim != 3 or query.shape != key.shape:
        raise ValueError(f"query {tuple(query.shape)} / key {tuple(key.shape)} invalid; allowed: equal (G, P, D)")
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} is invalid; allowed: > 0")
    # Park et al. 2020, eq. 2: l(v, v+, v-) = -log[ exp(v.v+/t) / (exp(v.v+/t) + sum_n exp(v.v-_n/t)) ]
    with torch.autocast(query.device.type, enabled=False):  # float32 logits: bmm would run in float16 under autocast
        logits = torch.bmm(query.float(), key.detach().float().transpose(1, 2)) / temperature  # (G, P, P)
    groups, patches = logits.shape[:2]
    targets = torch.arange(patches, device=logits.device).repeat(groups)  # positive = same position
    return F.cross_entropy(logits.reshape(groups * patches, patches), targets)


# --- perceptual style and content losses (Gatys et al. 2016, Johnson et al. 2016, Huang & Belongie 2017)


def gram_matrix(features: Tensor) -> Tensor:
    # Gatys et al. 2016, eq. 3 (normalised as Johnson et al. 2016): G_ij = sum_k F_ik F_jk / (C H W)
    n, c, h, w = features.shape
    # A sum over all H*W positions: float32 under any autocast, which would run bmm in float16
    # whatever the dtype of its inputs
    with torch.autocast(features.device.type, enabled=False):
        flat = features.float().reshape(n, c, h * w)
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def gram_style_loss(output_features: list[Tensor], style_grams: list[Tensor], relative: bool = False) -> Tensor:
    """Mean over layers of the squared Frobenius distance between the Gram matrices of the output's
    features and the style's (``style_grams``: (N, C, C) per image or (1, C, C) for all).

    ``relative``: each layer's distance divided by the style Gram's squared norm, so every layer
    weighs alike whatever its feature scale (random networks' deep layers are orders of magnitude
    smaller or larger than their first one) and the loss weights do not depend on the network."""
    # Gatys et al. 2016, eq. 4-5 / Johnson et al. 2016: sum_l ||G_l(y) - G_l(s)||_F^2 (averaged over l)
    total = output_features[0].new_zeros((), dtype=torch.float32)
    for features, target in zip(output_features, style_grams, strict=True):
        target = target.float()
        distance = (gram_matrix(features) - target).square().sum(dim=(1, 2))
        if relative:
            distance = distance / target.square().sum(dim=(1, 2)).clamp_min(1e-12)
        total = total + distance.mean()
    return total / len(output_features)


def mean_std(features: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-image, per-channel mean and standard deviation over positions, each (N, C, 1, 1)."""
    flat = features.float().flatten(2)
    return flat.mean(2)[..., None, None], (flat.var(2, unbiased=False) + eps).sqrt()[..., None, None]


def mean_std_style_loss(output_features: list[Tensor], style_features: list[Tensor]) -> Tensor:
    """Mean over layers of the distance between channel means and standard deviations of the output's
    features and the style's (style features of the same batch size, or batch 1 for all)."""
    # Huang & Belongie 2017, eq. 13: sum_l ||mu(phi_l(g)) - mu(phi_l(s))||_2 + ||sigma(phi_l(g)) - sigma(phi_l(s))||_2
    total = output_features[0].new_zeros((), dtype=torch.float32)
    for out, style in zip(output_features, style_features, strict=True):
        (mu_o, sigma_o), (mu_s, sigma_s) = mean_std(out), mean_std(style)
        mu_s, sigma_s = mu_s.expand_as(mu_o), sigma_s.expand_as(sigma_o)
        total = total + (mu_o - mu_s).flatten(1).norm(dim=1).mean() + (sigma_o - sigma_s).flatten(1).norm(dim=1).mean()
    return total / len(output_features)


def colour_statistics_loss(images: Tensor, style: Tensor, photos: Tensor | None = None) -> Tensor:
    """Distance of each image's per-channel pixel mean and standard deviation from a target: the style
    batch's (pooled over all its images and pixels), Huang & Belongie 2017's statistics on the pixels.

    ``photos`` (the images' sources, same batch): each image's target is instead its own photo's
    statistics moved by the one per-channel map that takes the photo batch's pooled statistics to the
    style's (the map that recolours the whole photo). A dark crop of the photo then keeps a dark
    target rather than the style's mean, so light and dark areas keep their place.

    Zero-mean feature filters (the offline random networks) see neither brightness nor overall
    contrast, so a generator trained on their Gram terms alone can darken or flatten its output for
    free (benchmarks/style_brightness_probe.py); this term sees both."""
    mu, sigma = mean_std(images)
    mu, sigma = mu.flatten(1), sigma.flatten(1)
    mu_s, sigma_s = _pooled_mean_std(style)
    if photos is not None:
        mu_p, sigma_p = _pooled_mean_std(photos)
        gain = sigma_s / sigma_p.clamp_min(1e-6)
        mu_c, sigma_c = (t.flatten(1) for t in mean_std(photos.detach()))
        mu_s, sigma_s = mu_s + gain * (mu_c - mu_p), gain * sigma_c
    return ((mu - mu_s).norm(dim=1) + (sigma - sigma_s).norm(dim=1)).mean()


def _pooled_mean_std(images: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation over all images and pixels of a batch, each (C,)."""
    pooled = images.detach().float().transpose(0, 1).flatten(1)  # (C, N * H * W)
    return pooled.mean(1), pooled.std(1, unbiased=False)


def feature_content_loss(output_features: Tensor, target_features: Tensor, relative: bool = False) -> Tensor:
    """``relative``: divided by the target features' mean square (scale-free, as ``gram_style_loss``'s)."""
    # Johnson et al. 2016, feature reconstruction loss: ||phi_j(y) - phi_j(x)||_2^2 / (C_j H_j W_j)
    target = target_features.detach().float()
    distance = (output_features.float() - target).square().mean()
    return distance / target.square().mean().clamp_min(1e-12) if relative else distance


def total_variation(images: Tensor) -> Tensor:
    # Johnson et al. 2016 / Mahendran & Vedaldi 2015: mean |y_{i+1,j} - y_ij| + |y_{i,j+1} - y_ij|
    return (images[:, :, 1:] - images[:, :, :-1]).abs().mean() + (images[..., 1:] - images[..., :-1]).abs().mean()

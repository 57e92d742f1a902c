"""Network settings as typed dataclasses (``GeneratorConfig``, ``PerceptualConfig`` ...): LightningCLI
shows them as nested option groups, checkpoints store them as dicts of their fields."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar, get_type_hints

from gan_lightning.common.checks import check_at_least, check_positive, check_range
from gan_lightning.common.errors import UserError

Config = TypeVar("Config")
# Plain field types -> the values a dict (a checkpoint's, a model folder's JSON) may give them.
_PLAIN_TYPES: dict[type, tuple[type, ...]] = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}
_PLAIN_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


def _check_plain_types(cls: type, value: Mapping[str, Any]) -> None:
    """Each field typed int, float, str or bool holds one (not a dict, list or None): a file's
    wrong value is named here instead of failing as a TypeError deep inside a network."""
    for name, kind in get_type_hints(cls).items():
        if name not in value or kind not in _PLAIN_TYPES:
            continue
        item = value[name]
        if not isinstance(item, _PLAIN_TYPES[kind]) or (kind is not bool and isinstance(item, bool)):
            raise UserError(f"{cls.__name__} {name} must be {_PLAIN_NAMES[kind]}, got {item!r}")


def as_config(cls: type[Config], value: Config | Mapping[str, Any], default: Config | None = None) -> Config:
    """A config from an instance or from a dict of its fields (what checkpoints and LightningCLI's
    hyper-parameters hold); missing fields take ``default``'s values (a parameter whose default is not
    the class's; None: the class's defaults), unknown ones are an error."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise UserError(f"{cls.__name__} expected, or a dict of its fields; got {type(value).__name__}")
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise UserError(f"unknown {cls.__name__} field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    _check_plain_types(cls, value)
    return cls(**value) if default is None else dataclasses.replace(default, **value)


@dataclasses.dataclass(frozen=True)
class StyleGAN3Config:
    """The StyleGAN3 generator's settings (NVlabs' stylegan3 G_kwargs with our names). The defaults are
    config T as their train.py builds it (mapping 2, fp16 on the 4 highest sampling rates, clamp 256);
    config R is ``conv_kernel=1, use_radial_filters=True`` with channel_base and channel_max doubled.

    Args:
        z_dim / w_dim / c_dim: latent, intermediate latent and class-label sizes (c_dim 0 = unconditional).
        mapping_layers / mapping_lr_multiplier / w_avg_beta: the mapping network (as StyleGAN2's).
        channel_base / channel_max: a layer with cutoff f_c has min(channel_base / 2 / f_c, channel_max) channels.
        num_layers: synthesis layers after the Fourier input, not counting toRGB (N).
        num_critical: the last layers that are critically sampled (cutoff at half the sampling rate).
        first_cutoff / first_stopband: f_c and f_t of the first layer; last_stopband_rel: the last
            layer's f_t over its cutoff (the last cutoff is half the image resolution).
        margin_size: pixels each layer computes outside the image on each side.
        output_scale: the toRGB output is multiplied by this.
        num_fp16_res: layers whose sampling rate x 2^num_fp16_res exceeds the resolution run in fp16 on CUDA.
        conv_clamp: clamp each layer's output to +-X, None = off.
        conv_kernel: modulated convolution kernel size (3 for T, 1 for R).
        filter_size: low-pass filter taps per factor of up/down-sampling.
        lrelu_upsampling: the leaky ReLU runs at this multiple of the higher sampling rate.
        use_radial_filters: down-sample with radially symmetric (jinc) filters, not separable ones (R).
        magnitude_ema_beta: decay of each layer's input magnitude average (train.py: 0.5 ** (batch / 20k)).
    """

    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.998
    channel_base: int = 32768
    channel_max: int = 512
    num_layers: int = 14
    num_critical: int = 2
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    num_fp16_res: int = 4
    conv_clamp: float | None = 256.0
    conv_kernel: int = 3
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False
    magnitude_ema_beta: float = 0.999

    def __post_init__(self) -> None:
        check_at_least("generator z_dim", self.z_dim, 0)
        if self.z_dim + self.c_dim < 1:
            raise UserError("generator needs z_dim >= 1 or c_dim >= 1, got both 0")
        for name in ("w_dim", "mapping_layers", "channel_base", "channel_max", "conv_kernel", "filter_size", "lrelu_upsampling"):
            check_at_least(f"generator {name}", getattr(self, name), 1)
        for name in ("c_dim", "margin_size", "num_fp16_res"):
            check_at_least(f"generator {name}", getattr(self, name), 0)
        check_at_least("generator num_layers", self.num_layers, self.num_critical + 1)
        check_at_least("generator num_critical", self.num_critical, 1)
        for name in ("mapping_lr_multiplier", "first_cutoff", "first_stopband", "last_stopband_rel", "output_scale"):
            check_positive(f"generator {name}", getattr(self, name))
        check_positive("generator conv_clamp", self.conv_clamp, optional=True)
        check_range("generator w_avg_beta", self.w_avg_beta, 0, 1)
        check_range("generator magnitude_ema_beta", self.magnitude_ema_beta, 0, 1)

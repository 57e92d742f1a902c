"""The style-collapse detector: what it measures, when it speaks, and that a training run logs it."""

import torch
from kornia.filters import gaussian_blur2d
from torch import nn

from gan_lightning.evaluation.texture import edge_correlation, weighted_edge_correlation
from gan_lightning.training.callbacks.style_collapse import (
    IDENTITY_L1_BOUND,
    MIN_EDGE_STD,
    STRUCTURE_BOUND,
    CollapseMeasures,
    StyleCollapseDetector,
    collapse_message,
    measure_collapse,
)


def scene(seed: int) -> torch.Tensor:
    """Images in [-1, 1] with outlines: random rectangles of random grey levels."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.full((2, 3, 64, 64), -0.5)
    for image in images:
        for _ in range(6):
            y, x = torch.randint(0, 48, (2,), generator=generator).tolist()
            image[:, y : y + 16, x : x + 16] = float(torch.rand((), generator=generator)) * 2 - 1
    return images


class Blobs(nn.Module):
    """What a collapsed generator draws: the input's light and dark areas, soft, in a brownish tint."""

    def forward(self, x):
        return (gaussian_blur2d(x, (63, 63), (16.0, 16.0)) * 0.5 + torch.tensor([0.2, 0.0, -0.2]).view(1, 3, 1, 1)).clamp(-1, 1)


class Recolour(nn.Module):
    """A healthy stylization: outlines kept, colours shifted a little."""

    def forward(self, x):
        return (x * 0.9 + 0.05).clamp(-1, 1)


def object_on_dark_ground() -> torch.Tensor:
    """Four validation crops of a photo that is mostly dark ground with one object: the first crop
    holds the object (a light disc with a darker core), the other three only the ground and its grain."""
    generator = torch.Generator().manual_seed(3)
    crops = -0.9 + 0.01 * torch.randn(4, 3, 64, 64, generator=generator)
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    radius = ((y - 30) ** 2 + (x - 34) ** 2).sqrt()
    crops[0] = torch.where(radius < 20, 0.6, crops[0])
    crops[0] = torch.where(radius < 7, -0.2, crops[0])
    return crops


class KeepAndPaint(nn.Module):
    """A stylization that keeps the photo and paints the style's strokes (diagonal stripes) all over it."""

    def forward(self, x):
        y, w = torch.meshgrid(torch.arange(x.shape[-2], dtype=x.dtype), torch.arange(x.shape[-1], dtype=x.dtype), indexing="ij")
        return (0.8 * x + 0.12 * torch.sin((y + w) * 0.9)).clamp(-1, 1)


def test_an_object_on_flat_ground_kept_by_the_output_is_not_a_collapse(capsys):
    # Per crop, the ground's correlation is the strokes against grain (about 0): the unweighted mean
    # of the four crops fell below the bound although the output keeps the photo.
    content = object_on_dark_ground()
    measures = measure_collapse(KeepAndPaint(), content, scene(1)[:1], identity=False)
    assert measures.structure > 0.8 and not measures.collapsed(), measures
    module = FakeModule(measures)
    StyleCollapseDetector().on_validation_epoch_end(FakeTrainer(), module)
    assert capsys.readouterr().err == "" and module.logged["val/structure"] == measures.structure


def test_soft_blobs_on_flat_ground_are_still_a_collapse():
    measures = measure_collapse(Blobs(), object_on_dark_ground(), scene(1)[:1], identity=False)
    assert measures.structure < STRUCTURE_BOUND and measures.collapsed(), measures


def test_crops_without_outlines_leave_the_structure_unjudged(capsys):
    # A smooth surface with faint lines (the retina photo's crops): any added texture outweighs them.
    content = object_on_dark_ground()[1:]
    content[:, :, 30:32, :] += 0.03
    measures = measure_collapse(KeepAndPaint(), content, scene(1)[:1], identity=False)
    assert measures.structure is None and not measures.collapsed()
    module = FakeModule(measures)
    StyleCollapseDetector().on_validation_epoch_end(FakeTrainer(), module)
    assert module.logged == {} and capsys.readouterr().err == ""
    message = collapse_message(CollapseMeasures(0.3, None), 50, "REMEDY")
    assert "collapsed" not in message and "not judged" in message and f"{MIN_EDGE_STD}" in message


def test_the_weighted_structure_is_edge_correlation_on_one_image_and_weighs_crops_by_their_outlines():
    content, output = scene(0), KeepAndPaint()(scene(0))
    assert abs(weighted_edge_correlation(output[:1], content[:1], 0.0) - edge_correlation(output[:1], content[:1])) < 1e-6
    faint = content.clone()
    faint[1] = faint[1] * 0.05  # a picture at a twentieth of the contrast: about 1/400 of the weight
    output = KeepAndPaint()(faint)
    strong, weak = (edge_correlation(output[i : i + 1], faint[i : i + 1]) for i in range(2))
    assert weak < strong - 0.3  # the strokes outweigh the faint outlines
    assert abs(weighted_edge_correlation(output, faint, 0.0) - strong) < 0.01


def test_a_generator_that_keeps_outlines_and_the_style_image_is_not_a_collapse():
    measures = measure_collapse(Recolour(), scene(0), scene(1), identity=True)
    assert measures.structure > 0.9 and measures.identity_l1 < 0.1
    assert not measures.collapsed()


def test_soft_blobs_are_a_collapse_on_both_measures():
    measures = measure_collapse(Blobs(), scene(0), scene(1), identity=True)
    assert measures.structure < STRUCTURE_BOUND and measures.identity_l1 > IDENTITY_L1_BOUND
    assert measures.collapsed()


def test_identity_is_not_judged_where_the_model_trains_no_identity_term():
    measures = measure_collapse(Recolour(), scene(0), scene(1), identity=False)
    assert measures.identity_l1 is None and not measures.collapsed()
    assert CollapseMeasures(None, STRUCTURE_BOUND - 0.01).collapsed()


def test_the_message_is_one_line_naming_values_bounds_and_remedy():
    message = collapse_message(CollapseMeasures(0.25, 0.2), 120, "try --data.init_args.x 1")
    assert "\n" not in message
    for part in ("after 120 batches", "0.250", f"{IDENTITY_L1_BOUND}", "0.200", f"{STRUCTURE_BOUND}", "--data.init_args.x 1"):
        assert part in message


def test_an_identity_far_from_the_style_with_the_structure_kept_is_not_called_a_collapse():
    # As on the benchmark's held-out pairs: the photo kept whole, the style's texture not learnt.
    message = collapse_message(CollapseMeasures(0.3, 0.72), 100, "lower --model.init_args.lambda_style")
    assert "\n" not in message and "collapsed" not in message and "lambda_style" not in message
    for part in ("after 100 batches", "identity L1 0.300", f"bound {IDENTITY_L1_BOUND}", "kept (0.720", "not learnt yet"):
        assert part in message


class FakeModule:
    """The two methods the detector reads, and the log calls it makes."""

    def __init__(self, measures, bounds_apply=True):
        self.measures, self.logged, self.collapse_bounds_apply = measures, {}, bounds_apply

    def collapse_measures(self):
        return self.measures

    def collapse_remedy(self):
        return "REMEDY-OPTION"

    def log(self, name, value):
        self.logged[name] = value


class FakeLoop:
    total_batch_idx = 6


class FakeTrainer:
    sanity_checking = False
    is_global_zero = True
    fit_loop = FakeLoop()


def test_the_detector_logs_each_validation_and_speaks_once(capsys):
    detector, module = StyleCollapseDetector(), FakeModule(CollapseMeasures(0.3, 0.1))
    detector.on_validation_epoch_end(FakeTrainer(), module)
    detector.on_validation_epoch_end(FakeTrainer(), module)
    assert module.logged == {"val/structure": 0.1, "val/identity_l1": 0.3}
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "REMEDY-OPTION" in lines[0] and "after 7 batches" in lines[0]


def test_a_note_on_the_style_image_does_not_silence_a_later_collapse(capsys):
    # A run whose G(style) is off first (the note, no remedy) and whose photo turns into blobs later.
    detector = StyleCollapseDetector()
    for measures in (CollapseMeasures(0.3, 0.7), CollapseMeasures(0.4, 0.1), CollapseMeasures(0.4, 0.1), CollapseMeasures(0.3, 0.7)):
        detector.on_validation_epoch_end(FakeTrainer(), FakeModule(measures))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "not learnt yet" in lines[0] and "collapsed" in lines[1] and "REMEDY-OPTION" in lines[1], lines


def test_the_detector_is_silent_on_a_healthy_run_and_before_the_first_validation(capsys):
    detector = StyleCollapseDetector()
    detector.on_validation_epoch_end(FakeTrainer(), FakeModule(None))
    detector.on_validation_epoch_end(FakeTrainer(), FakeModule(CollapseMeasures(0.05, 0.8)))
    assert capsys.readouterr().err == ""


def test_where_the_bounds_were_not_measured_it_logs_and_says_nothing(capsys):
    module = FakeModule(CollapseMeasures(None, 0.1), bounds_apply=False)
    StyleCollapseDetector().on_validation_epoch_end(FakeTrainer(), module)
    assert module.logged == {"val/structure": 0.1} and capsys.readouterr().err == ""


def test_the_bounds_apply_to_the_single_image_and_fast_neural_presets_and_not_to_cut():
    from gan_lightning.training.models.style_transfer import StyleTransfer

    tiny = dict(resolution=32, generator=dict(width=8, blocks=1), style_network=dict(width=8), num_patches=16, perceptual=dict(width=8))
    single = StyleTransfer(**tiny, lambda_style=1.0, lambda_identity=1.0)
    assert single.collapse_bounds_apply and "lower --model.init_args.lambda_style (now 1.0" in single.collapse_remedy()
    assert not StyleTransfer(**tiny).collapse_bounds_apply  # CUT
    fast_neural = dict(lambda_gan=0.0, lambda_nce=0.0, nce_identity=False, lambda_style=1.0)
    earlier = StyleTransfer(**tiny, **fast_neural)
    assert earlier.collapse_bounds_apply and "--model.init_args.generator.residual true" in earlier.collapse_remedy()
    shipped = StyleTransfer(**{**tiny, "generator": dict(width=8, blocks=1, residual=True)}, **fast_neural)
    assert shipped.collapse_bounds_apply and "lower --model.init_args.lambda_style" in shipped.collapse_remedy()

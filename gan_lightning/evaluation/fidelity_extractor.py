"""The shipped shapes classifier as a torch-fidelity feature extractor ("features", "logits"), so
torch-fidelity's own ``calculate_metrics`` can be run on the same network as ``evaluate --detector
shapes`` (the equality test and benchmarks/compare_torch_fidelity.py), with nothing downloaded."""

from __future__ import annotations

from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from gan_lightning.evaluation.detectors import ShapesDetector

NAME = "gan-lightning-shapes"  # what torch_fidelity.register_feature_extractor registers it as


class ShapesForTorchFidelity(FeatureExtractorBase):
    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        self.detector = ShapesDetector()

    def forward(self, x):
        features, logits = self.detector(x)
        return tuple({"features": features, "logits": logits}[name] for name in self.features_list)

    @staticmethod
    def get_provided_features_list():
        return "features", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return None

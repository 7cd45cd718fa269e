"""How good is a trained model? Every measurement the chapters make on a trained model.

- :mod:`~vaelib.evaluate.bounds`: the test ELBO, the importance-sampled log-likelihood (of x, or
  of x given a label), bits per dimension, the independent-pixels baseline
- :mod:`~vaelib.evaluate.codes`: encoder means, active units, a linear probe on features, codes far
  from the data (holes)
- :mod:`~vaelib.evaluate.anomaly`: anomaly scores, the ROC curve, AUROC
- :mod:`~vaelib.evaluate.classification`: a classifier's accuracy and confidence on real or
  generated digits
- :mod:`~vaelib.evaluate.disentanglement`: the mutual information gap (MIG) between codes and the
  factors that made the data
- :mod:`~vaelib.evaluate.sample_quality`: scores for any generator's samples (modes covered, label
  spread, Fréchet distance, sharpness)

Log-likelihoods and scores are in nats per example unless a name says bits.
"""

from __future__ import annotations

from .anomaly import anomaly_scores, auroc, roc_curve
from .bounds import (
    bits_per_dim,
    evaluate_elbo,
    importance_log_likelihood,
    independent_pixels_log_likelihood,
)
from .classification import accuracy, classifier_confidence, generated_digit_accuracy
from .codes import active_units, encode_means, far_from_data, linear_probe_accuracy
from .disentanglement import mutual_information_gap
from .sample_quality import frechet_distance, label_spread, mode_coverage, sharpness

__all__ = [
    "evaluate_elbo", "importance_log_likelihood", "bits_per_dim", "independent_pixels_log_likelihood",
    "encode_means", "active_units", "linear_probe_accuracy", "far_from_data",
    "anomaly_scores", "roc_curve", "auroc",
    "accuracy", "generated_digit_accuracy", "classifier_confidence",
    "mutual_information_gap", "mode_coverage", "label_spread", "frechet_distance", "sharpness",
]

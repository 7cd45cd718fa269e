"""How good is a trained model? Every measurement the chapters make on a trained model.

- :mod:`~vaelib.evaluate.bounds`: the test ELBO, the importance-sampled log-likelihood (of x, or
  of x given a label), bits per dimension
- :mod:`~vaelib.evaluate.codes`: encoder means, active units, a linear probe on features, codes far
  from the data (holes)
- :mod:`~vaelib.evaluate.anomaly`: anomaly scores, the ROC curve, AUROC
- :mod:`~vaelib.evaluate.classification`: a classifier's accuracy and confidence on real or
  generated digits

Log-likelihoods and scores are in nats per example unless a name says bits.
"""

from __future__ import annotations

from .anomaly import anomaly_scores, auroc, roc_curve
from .bounds import bits_per_dim, evaluate_elbo, importance_log_likelihood
from .classification import accuracy, classifier_confidence, generated_digit_accuracy
from .codes import active_units, encode_means, far_from_data, linear_probe_accuracy

__all__ = [
    "evaluate_elbo", "importance_log_likelihood", "bits_per_dim",
    "encode_means", "active_units", "linear_probe_accuracy", "far_from_data",
    "anomaly_scores", "roc_curve", "auroc",
    "accuracy", "generated_digit_accuracy", "classifier_confidence",
]

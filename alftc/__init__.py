"""alftc: certified reward-estimator tables for answer-level fine-tuning.

This module stays light on purpose: ``import alftc.runtime`` imports it first,
and the runtime must not pull in mpmath, cvxpy, h5py, scipy or click.
"""

__version__ = "0.1.0"

"""Pulsecure training pipeline: NHANES 2013-2014 -> calibrated, quantized logistic regression."""

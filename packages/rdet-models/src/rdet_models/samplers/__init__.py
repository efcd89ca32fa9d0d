"""Samplers."""

from rdet_models.samplers.samplers import PseudoSampler, RandomSampler, RRandomSampler
from rdet_models.samplers.sampling_result import SamplingResult

__all__ = ["PseudoSampler", "RRandomSampler", "RandomSampler", "SamplingResult"]

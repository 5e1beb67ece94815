"""Slots of the float64 array ``reg`` that carries the regularisation and
training settings into the compiled code (numba kernels take arrays, not
objects).

Every slot is 0 when its technique is off, which is also the value that makes
the kernels skip it, so the unregularised path does no extra work. The
activity-L1 coefficient (an option, see ``_jit.option``) and the
tangent-propagation strength (in the tangent tuple) reach the kernels as
arguments of their own, not through ``reg``.
"""

import numpy as np

INPUT_DROPOUT = 0  # rate of dropped inputs
INPUT_NOISE = 1  # std of Gaussian noise added to the inputs
ADVERSARIAL_EPS = 2  # L-infinity radius of adversarial perturbations
ADVERSARIAL_STEPS = 3  # 1: FGSM; more: PGD steps
WEIGHT_NOISE = 4  # std of Gaussian noise added to the weights at each step
L1 = 5  # L1 part of the weight penalty (alpha * l1_ratio)
L2 = 6  # L2 part of the weight penalty (alpha * (1 - l1_ratio))
PRIOR = 7  # strength of the pull towards the prior network's weights
MAX_NORM = 8  # bound on each unit's incoming weight norm
CLIP_NORM = 9  # bound on the norm of each step's gradient
AVERAGE = 10  # 1 when the weights are averaged
AVERAGE_START = 11  # optimizer step after which averaging starts
AVERAGE_DECAY = 12  # 0: Polyak (uniform) average; else exponential decay
FROZEN_LAYERS = 13  # number of leading layers kept fixed (their parameter
# ranges go to the kernels as an array of intervals)
SIZE = 14


def empty():
    return np.zeros(SIZE, dtype=np.float64)

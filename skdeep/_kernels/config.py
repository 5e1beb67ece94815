"""Slots of the float64 array ``reg`` that carries the regularisation and
training settings into the compiled code (numba kernels take arrays, not
objects).

Every slot is 0 when its technique is off, which is also the value that makes
the kernels skip it, so the unregularised path does no extra work.
"""

import numpy as np

INPUT_DROPOUT = 0  # rate of dropped inputs
INPUT_NOISE = 1  # std of Gaussian noise added to the inputs
ACTIVITY_L1 = 2  # L1 penalty on hidden activations
TANGENT_PROP = 3  # strength of the tangent-propagation penalty
ADVERSARIAL_EPS = 4  # L-infinity radius of adversarial perturbations
ADVERSARIAL_STEPS = 5  # 1: FGSM; more: PGD steps
WEIGHT_NOISE = 6  # std of Gaussian noise added to the weights at each step
L1 = 7  # L1 part of the weight penalty (alpha * l1_ratio)
L2 = 8  # L2 part of the weight penalty (alpha * (1 - l1_ratio))
PRIOR = 9  # strength of the pull towards the prior network's weights
MAX_NORM = 10  # bound on each unit's incoming weight norm
CLIP_NORM = 11  # bound on the norm of each step's gradient
AVERAGE = 12  # 1 when the weights are averaged
AVERAGE_START = 13  # optimizer step after which averaging starts
AVERAGE_DECAY = 14  # 0: Polyak (uniform) average; else exponential decay
FROZEN_LAYERS = 15  # number of leading layers kept fixed (their parameter
# ranges go to the kernels as an array of intervals)
SIZE = 16


def empty():
    return np.zeros(SIZE, dtype=np.float64)

"""Counter-based random numbers for the compiled epoch.

Dropout masks and noise are drawn inside the parallel epoch, where shards are
claimed by whichever worker is free. A stream of draws owned by a thread would
make the model depend on the schedule; instead every draw is a pure function
of a key and a counter. The key identifies what the numbers are for (the
epoch's seed, drawn from the fit's ``numpy.random.Generator``, the optimizer
step, the shard and the purpose), the counter which element they belong to, so
the same seed gives the same masks whatever thread computes them.

The mixing function is SplitMix64's finaliser (Steele, Lea & Flood, 2014,
"Fast splittable pseudorandom number generators"), the one numpy uses to seed
its bit generators; it passes BigCrush when applied to a counter.
"""

import numpy as np

from ._jit import inline_jit, integer_jit, jit
from .elementary import cos_sin_turns, log

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2 ** -53

# purposes of a key: one stream of numbers each
(
    INPUT_DROPOUT, INPUT_NOISE, HIDDEN_DROPOUT, WEIGHT_NOISE, ADVERSARIAL_START, HESSIAN_PROBE,
    DROPCONNECT,
) = range(7)


@jit
def mix(z):
    """SplitMix64's finaliser: a bijective scramble of 64 bits."""
    z = np.uint64(z)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@integer_jit
def make_key(seed, step, shard, purpose):
    """The key of the numbers drawn for ``purpose`` by ``shard`` at ``step``."""
    k = mix(np.uint64(seed) + _GOLDEN * np.uint64(step + 1))
    k = mix(k + _GOLDEN * np.uint64(shard + 1))
    return mix(k + _GOLDEN * np.uint64(purpose + 1))


@jit
def uniform(key, counter):
    """Uniform draw in [0, 1) for element ``counter`` of stream ``key``."""
    bits = mix(key + _GOLDEN * np.uint64(counter + 1))
    return np.float64(bits >> np.uint64(11)) * _TO_UNIT


@inline_jit
def normal_pair(key, pair):
    """Two independent standard normal draws, elements ``2 * pair`` and
    ``2 * pair + 1`` of stream ``key`` (Box-Muller: one logarithm and one
    sine/cosine pair for two draws, with ``elementary``'s vectorisable
    functions; with libm's, a draw cost about 20 ns, now 4-6)."""
    u1 = uniform(key, 2 * pair)
    u2 = uniform(key, 2 * pair + 1)
    r = np.sqrt(-2.0 * log(1.0 - u1))
    cos, sin = cos_sin_turns(u2)
    return r * cos, r * sin


@jit
def normal(key, counter):
    """Standard normal draw for element ``counter`` of stream ``key``."""
    z0, z1 = normal_pair(key, counter >> 1)
    return z0 if counter & 1 == 0 else z1


@jit
def add_normal(out, std, key):
    """``out += std * N(0, 1)``, element ``i`` drawn from counter ``i``."""
    n = out.shape[0]
    dt = out.dtype.type
    for k in range(n // 2):
        z0, z1 = normal_pair(key, k)
        out[2 * k] += dt(std * z0)
        out[2 * k + 1] += dt(std * z1)
    if n % 2:
        out[n - 1] += dt(std * normal(key, n - 1))

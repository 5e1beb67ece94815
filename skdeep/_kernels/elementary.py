"""``exp``, ``expm1``, ``log``, ``tanh``, the logistic function, ``softplus``
and the cosine and sine of an angle in turns, in a form LLVM can vectorise.

numba lowers ``np.exp`` and ``np.tanh`` to scalar libm calls, one per element
(numba vectorises them only with Intel's SVML library installed), and the
hidden activations of a tanh or logistic network cost more than the matrix
products then. The functions here use only arithmetic, ``floor``, comparisons
turned into selects and one integer-to-float bit cast, so a loop over them
becomes SIMD code.

``exp(x)``: ``x = k ln 2 + r`` with ``k = round(x / ln 2)`` and ``|r| <= ln 2
/ 2`` (Cody and Waite's two-part ``ln 2``, exact in the first product), the
Taylor polynomial of ``e^r`` (degree 13 in float64, 7 in float32: truncation
below half an ulp), and ``2^k`` as two factors built from their exponent bits,
so overflow gives ``inf`` and underflow gradual zeros, as libm does.

``tanh(x) = sign(x) (1 - e^{-2|x|}) / (1 + e^{-2|x|})``, and its Taylor series
for ``|x| < 0.1``, where the first form loses digits to cancellation; the
logistic function from ``e^{-|x|}``, which cannot overflow.

``expm1(x)``: its Taylor series for ``|x| < 1`` (no cancellation), ``e^x - 1``
beyond. ``softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^{-|x|})``, with
``log1p(u) = 2 atanh(s)``, ``s = u / (2 + u)``, and ``log1p(u) = ln 2 +
log1p((u - 1) / 2)`` when ``1 + u > sqrt(2)``, so that ``|s| <= 0.172`` and
the atanh series converges fast. Polynomials are LLVM IR too (``_series``),
unrolled whatever their degree.

``log(x)``: ``x = 2^e m`` from its bits (subnormals scaled by ``2^52`` or
``2^23`` first) with ``m`` in ``[sqrt(1/2), sqrt(2))``, then ``e ln 2 + 2
atanh((m - 1) / (m + 1))``, the same atanh series. ``cos_sin_turns(t) = (cos
2 pi t, sin 2 pi t)``: ``t = q / 4 + r`` with ``|r| <= 1/8`` (exact), the
Taylor series of sine and cosine of ``2 pi r``, and a rotation by ``q``
quarter turns as selects. Both serve the Box-Muller draws of ``random``.

Accuracy (checked by the tests against numpy over the whole range): a few
ulps. These kernels are compiled without ``reassoc``, which would let LLVM
merge the two parts of ``ln 2`` and lose the reduction's precision.

With ``NUMBA_DISABLE_JIT=1`` the functions run as Python: numpy's ``exp``
and ``log`` and Horner's rule stand in for the LLVM IR.
"""

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import overload

from ._jit import intrinsic_with_python, larger

#: per width: ln 2 split so that ``k * hi`` is exact for the ``k`` that
#: occur (fdlibm's ``exp`` and ``expf``), the clamp that keeps ``k`` in range
#: (``e^lo`` rounds to 0, ``e^hi`` to inf), exponent bias and mantissa bits
_FLOAT64 = dict(hi=6.93147180369123816490e-01, lo=1.90821492927058770002e-10,
                clamp=(-746.0, 710.0), bias=1023, mantissa=52, degree=13)
_FLOAT32 = dict(hi=6.9314575195e-01, lo=1.4286067653e-06,
                clamp=(-104.0, 89.0), bias=127, mantissa=23, degree=7)
_LOG2E = 1.44269504088896338700e00


def _call(builder, name, *args):
    """A call of the LLVM intrinsic ``name`` on floats of one type."""
    fty = args[0].type
    signature = ir.FunctionType(fty, [fty] * len(args))
    return builder.call(builder.module.declare_intrinsic(name, [fty], signature), list(args))


def _numpy_type(fty):
    """The numpy scalar type of the LLVM float type ``fty``."""
    return np.float32 if isinstance(fty, ir.FloatType) else np.float64


def _exp_ir(builder, x):
    """LLVM IR for ``e^x`` (see the module docstring); ``x`` a float or
    double value. No fast-math flags, so no later pass can reassociate the
    reduction."""
    fty = x.type
    single = isinstance(fty, ir.FloatType)
    w = _FLOAT32 if single else _FLOAT64
    ity = ir.IntType(32 if single else 64)

    def const(value):
        return ir.Constant(fty, float(np.float32(value)) if single else value)

    def call(name, *args):
        return _call(builder, name, *args)

    def fmuladd(a, b, c):  # a * b + c, fused where the machine has FMA
        return call("llvm.fmuladd", a, b, c)

    y = call("llvm.minnum", call("llvm.maxnum", x, const(w["clamp"][0])), const(w["clamp"][1]))
    kf = call("llvm.floor", fmuladd(y, const(_LOG2E), const(0.5)))
    r = fmuladd(kf, const(-w["hi"]), y)
    r = fmuladd(kf, const(-w["lo"]), r)
    factorials = np.cumprod(np.arange(1, w["degree"] + 1, dtype=np.float64))
    p = const(1.0 / factorials[-1])
    for n in range(w["degree"] - 1, 0, -1):  # Taylor terms 1/n!, Horner
        p = fmuladd(p, r, const(1.0 / factorials[n - 1]))
    p = fmuladd(p, r, const(1.0))
    k = builder.fptosi(kf, ity)
    half = builder.ashr(k, ity(1))

    def two_to(n):  # 2^n from its exponent bits; n stays a normal exponent
        return builder.bitcast(builder.shl(builder.add(n, ity(w["bias"])), ity(w["mantissa"])), fty)

    p = builder.fmul(builder.fmul(p, two_to(half)), two_to(builder.sub(k, half)))
    return builder.select(builder.fcmp_unordered("uno", x, x), x, p)  # NaN stays NaN


def _ir_function(emit, name, doc, python):
    """An intrinsic of one float32 or float64 scalar whose LLVM IR
    ``emit(builder, x)`` returns; ``python`` in Python."""

    def function(typingctx, x):
        if x not in (types.float32, types.float64):
            return None

        def codegen(context, builder, signature, args):
            return emit(builder, args[0])

        return x(x), codegen

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return intrinsic_with_python(python)(function)


exp = _ir_function(_exp_ir, "exp", """Vectorisable ``e^x`` for a float32 or
float64 scalar, emitted inline.""", np.exp)


def _float_type(x):
    """The numpy type a kernel gives the scalar ``x`` in Python."""
    return np.float32 if isinstance(x, np.float32) else np.float64


def _scalar_function(build):
    """A function of one float32 or float64 scalar: ``build(numpy type)``
    returns its implementation, which numba inlines."""
    built = {}

    def function(x):  # from Python (and with NUMBA_DISABLE_JIT=1)
        f = _float_type(x)
        if f not in built:
            built[f] = build(f)
        return built[f](x)

    function.__name__ = function.__qualname__ = build.__name__
    function.__doc__ = build.__doc__

    @overload(function, inline="always")
    def _typed(x):
        if x not in (types.float32, types.float64):
            return None
        return build(np.float32 if x == types.float32 else np.float64)

    return function


@_scalar_function
def tanh(f):
    """Vectorisable ``tanh(x)``."""
    one, two, small = f(1), f(2), f(0.1)
    s3, s5, s7, s9, s11, s13, s15 = (f(c) for c in _TANH_SERIES)

    def impl(x):
        a = np.abs(x)
        t = exp(-two * a)
        far = (one - t) / (one + t)
        x2 = x * x
        q = s15
        q = q * x2 + s13
        q = q * x2 + s11
        q = q * x2 + s9
        q = q * x2 + s7
        q = q * x2 + s5
        q = q * x2 + s3
        near = a + a * x2 * q
        y = near if a < small else far
        return np.copysign(y, x) if x == x else x

    return impl


# tanh(x) = x + x^3 * (s3 + s5 x^2 + ...) (Taylor), used for |x| < 0.1
_TANH_SERIES = (
    -1.0 / 3.0, 2.0 / 15.0, -17.0 / 315.0, 62.0 / 2835.0, -1382.0 / 155925.0,
    21844.0 / 6081075.0, -929569.0 / 638512875.0,
)


@_scalar_function
def logistic(f):
    """Vectorisable ``1 / (1 + e^-x)``."""
    one = f(1)

    def impl(x):
        e = exp(-np.abs(x))  # never overflows: e^x / (1 + e^x) for x < 0
        return (one if x >= 0 else e) / (one + e)

    return impl


def _horner_ir(builder, v, coefficients):
    """LLVM IR for ``c_0 + c_1 v + ... + c_n v^n`` by Horner's rule with fused
    multiply-adds, unrolled."""
    fty = v.type
    fma = builder.module.declare_intrinsic("llvm.fmuladd", [fty], ir.FunctionType(fty, [fty] * 3))
    p = ir.Constant(fty, coefficients[-1])
    for c in coefficients[-2::-1]:
        p = builder.call(fma, [p, v, ir.Constant(fty, c)])
    return p


def _series(table):
    """An intrinsic ``p(x) = c_0 + c_1 x + ... + c_n x^n`` for float32 and
    float64 ``x``, with the coefficients ``table[numpy type]``, evaluated by
    Horner's rule with fused multiply-adds (LLVM IR, so it is unrolled
    whatever the degree, and the loops around it vectorise)."""

    def emit(builder, x):
        f = _numpy_type(x.type)
        return _horner_ir(builder, x, [float(f(c)) for c in table[f]])

    def python(x):
        f = _float_type(x)
        p = f(table[f][-1])
        for c in table[f][-2::-1]:
            p = p * x + f(c)
        return p

    return _ir_function(emit, "series", _series.__doc__, python)


# expm1(x) = x (1 + x/2! + x^2/3! + ...), for |x| < 1: truncated below half
# an ulp (degree 18 in float64, 11 in float32)
_expm1_series = _series({
    np.float64: np.r_[1.0, 1.0 / np.cumprod(np.arange(2, 20, dtype=np.float64))],
    np.float32: np.r_[1.0, 1.0 / np.cumprod(np.arange(2, 13, dtype=np.float64))],
})


@_scalar_function
def expm1(f):
    """Vectorisable ``e^x - 1``, accurate for small ``x``."""
    one = f(1)

    def impl(x):
        near = x * _expm1_series(x)  # |x| < 1: the series, no cancellation
        far = exp(x) - one  # |x| >= 1: e^x - 1 loses at most an ulp or two
        return near if np.abs(x) < one else far

    return impl


# log1p(u) = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...), s = u / (2 + u);
# |s| <= 0.172 after the reduction below, truncated below half an ulp
_ATANH = {
    np.float64: 1.0 / np.arange(1, 24, 2, dtype=np.float64),
    np.float32: 1.0 / np.arange(1, 12, 2, dtype=np.float64),
}
_atanh_series = _series(_ATANH)
_LN2 = 6.93147180559945286227e-01


@_scalar_function
def softplus(f):
    """Vectorisable ``log(1 + e^x)``, which never overflows (compiled code
    only)."""
    zero, one, two, half, ln2 = f(0), f(1), f(2), f(0.5), f(_LN2)
    split = f(np.sqrt(2.0) - 1.0)

    def impl(x):
        # log(1 + e^x) = max(x, 0) + log1p(u), u = e^-|x| in [0, 1]
        u = exp(-np.abs(x))
        # 1 + u > sqrt(2): log1p(u) = ln 2 + log1p((u - 1) / 2)
        reduced = u > split
        v = (u - one) * half if reduced else u
        s = v / (two + v)
        y = two * s * _atanh_series(s * s) + (ln2 if reduced else zero)
        return (larger(x, zero) + y) if x == x else x

    return impl


def _log_ir(builder, x):
    """LLVM IR for ``log(x)`` (see the module docstring); ``x`` a float or
    double value."""
    fty = x.type
    f = _numpy_type(fty)
    w = _FLOAT32 if f is np.float32 else _FLOAT64
    ity = ir.IntType(np.dtype(f).itemsize * 8)

    def const(value):
        return ir.Constant(fty, float(f(value)))

    def fcmp(op, a, b):
        return builder.fcmp_ordered(op, a, b)

    # subnormals: scaled into the normal range first
    tiny = fcmp("<", x, const(np.finfo(f).tiny))
    bits = builder.bitcast(builder.select(tiny, builder.fmul(x, const(2.0 ** w["mantissa"])), x), ity)
    e = builder.sub(builder.lshr(bits, ity(w["mantissa"])), ity(w["bias"]))
    e = builder.select(tiny, builder.sub(e, ity(w["mantissa"])), e)
    # x = 2^e m, m in [1, 2), then in [sqrt(1/2), sqrt(2))
    fraction = builder.and_(bits, ity((1 << w["mantissa"]) - 1))
    m = builder.bitcast(builder.or_(fraction, ity(w["bias"] << w["mantissa"])), fty)
    big = fcmp(">", m, const(np.sqrt(2.0)))
    m = builder.select(big, builder.fmul(m, const(0.5)), m)
    ef = builder.sitofp(builder.select(big, builder.add(e, ity(1)), e), fty)
    # log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172
    s = builder.fdiv(builder.fsub(m, const(1.0)), builder.fadd(m, const(1.0)))
    series = _horner_ir(builder, builder.fmul(s, s), [float(f(c)) for c in _ATANH[f]])
    log_m = builder.fmul(builder.fmul(const(2.0), s), series)
    low = _call(builder, "llvm.fmuladd", ef, const(w["lo"]), log_m)
    y = _call(builder, "llvm.fmuladd", ef, const(w["hi"]), low)
    # log(0) = -inf, log(inf) = inf, log(x < 0) = nan, nan stays nan
    y = builder.select(fcmp("==", x, const(0.0)), const(-np.inf), y)
    y = builder.select(fcmp("==", x, const(np.inf)), x, y)
    y = builder.select(fcmp("<", x, const(0.0)), const(np.nan), y)
    return builder.select(builder.fcmp_unordered("uno", x, x), x, y)


log = _ir_function(_log_ir, "log", """Vectorisable natural logarithm of a
float32 or float64 scalar, emitted inline.""", np.log)


def _alternating(first, count):
    """Taylor coefficients ``(-1)^k / (first + 2k)!`` of sine (``first = 1``)
    and cosine (``first = 0``) as series in ``x^2``."""
    orders = first + 2 * np.arange(count)
    factorials = np.array([float(np.prod(np.arange(1, n + 1, dtype=np.float64))) for n in orders])
    return (-1.0) ** np.arange(count) / factorials


# for |x| <= pi / 4, truncated below half an ulp
_sin_series = _series({np.float64: _alternating(1, 10), np.float32: _alternating(1, 6)})
_cos_series = _series({np.float64: _alternating(0, 11), np.float32: _alternating(0, 7)})


@_scalar_function
def cos_sin_turns(f):
    """Vectorisable ``(cos 2 pi t, sin 2 pi t)`` of an angle ``t`` in turns.
    The reduction to the nearest quarter turn, ``t = q / 4 + r`` with ``|r|
    <= 1/8``, is exact, and the Taylor series of sine and cosine of ``2 pi
    r`` do the rest."""
    one, two, three, four = f(1), f(2), f(3), f(4)
    half, quarter, two_pi = f(0.5), f(0.25), f(2.0 * np.pi)

    def impl(x):  # x: the angle t in turns
        q = np.floor(x * four + half)
        x = (x - q * quarter) * two_pi
        z = x * x
        s = x * _sin_series(z)
        c = _cos_series(z)
        # rotate by k = q mod 4 quarter turns; no branches (they would
        # keep the loops around it scalar)
        k = q - four * np.floor(q * quarter)
        odd = (k == one) | (k == three)
        a = s if odd else c
        b = c if odd else s
        cos = -a if (k == one) | (k == two) else a
        sin = -b if k >= two else b
        return cos, sin

    return impl

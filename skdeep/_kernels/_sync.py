"""Synchronisation between the workers of one compiled epoch.

numba has no atomic operations on the CPU, so the few this engine needs are
LLVM intrinsics. They compile into the calling kernel (no process-specific
globals), so kernels that use them stay cacheable.

The barrier counts arrivals in ``state[0]`` and completed rounds in
``state[1]``; the last worker to arrive resets the count and opens the next
round. Waiting workers spin briefly, then yield the CPU, so that a worker whose
partner has been descheduled (more threads than cores) does not burn the time
the partner needs.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import jit

#: spins before a waiting worker starts yielding the CPU
SPINS_BEFORE_YIELD = 200


def _element_pointer(context, builder, signature, args):
    array_type = signature.args[0]
    array = context.make_array(array_type)(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, array_type, array, [args[1]])


@intrinsic
def atomic_fetch_add(typingctx, array, index, value):
    """``array[index] += value`` atomically (int64); returns the old value."""
    if array.dtype != types.int64:
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature, args)
        return builder.atomic_rmw("add", pointer, args[2], "seq_cst")

    return types.int64(array, index, types.int64), codegen


@intrinsic
def atomic_load(typingctx, array, index):
    """``array[index]`` read with acquire semantics (int64)."""
    if array.dtype != types.int64:
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature, args)
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic
def atomic_store(typingctx, array, index, value):
    """``array[index] = value`` with release semantics (int64)."""
    if array.dtype != types.int64:
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature, args)
        builder.store_atomic(args[2], pointer, "release", 8)
        return context.get_dummy_value()

    return types.void(array, index, types.int64), codegen


@intrinsic
def yield_cpu(typingctx):
    """Give the CPU to another thread (POSIX ``sched_yield``)."""

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(32), [])
        function = cgutils.get_or_insert_function(builder.module, fnty, "sched_yield")
        builder.call(function, [])
        return context.get_dummy_value()

    return types.void(), codegen


@jit
def barrier_wait(state, n_workers):
    """Block until ``n_workers`` workers have called this with ``state``."""
    if n_workers == 1:
        return
    round_ = atomic_load(state, 1)
    if atomic_fetch_add(state, 0, 1) == n_workers - 1:
        atomic_store(state, 0, 0)
        atomic_fetch_add(state, 1, 1)
        return
    spins = 0
    while atomic_load(state, 1) == round_:
        spins += 1
        if spins > SPINS_BEFORE_YIELD:
            yield_cpu()

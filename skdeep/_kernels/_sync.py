"""Synchronisation between the workers of one compiled epoch.

numba has no atomic operations on the CPU, so the few this engine needs are
LLVM intrinsics. They compile into the calling kernel (no process-specific
globals), so kernels that use them stay cacheable.

Work is shared by claiming, not by assignment: each phase of a batch has
``n_items`` numbered items and two monotonic counters, one of items claimed and
one of items done. A worker claims items until none is left, then waits until
all are done. It therefore only ever waits for items that a running thread has
already claimed, so the scheme cannot deadlock, whatever the thread pool
does: if the workers happen to run one after the other on a single thread, the
first does every item and the others find nothing left. Waiting workers spin
briefly, then yield the CPU to a partner that may have been descheduled.

With ``NUMBA_DISABLE_JIT=1`` the kernels run as Python and each intrinsic is
replaced by a Python function under one lock.
"""

import os
import threading
import time

from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils

from ._jit import integer_jit, intrinsic_with_python, jit

#: spins before a waiting worker starts yielding the CPU
SPINS_BEFORE_YIELD = 200
#: the C functions that give the CPU to another thread, by platform: the
#: first the process has is called (none: the worker only spins)
_YIELD_FUNCTIONS = ("sched_yield", "SwitchToThread")  # POSIX, Windows
#: the Python stand-ins' atomicity (``NUMBA_DISABLE_JIT=1``)
_PYTHON_LOCK = threading.Lock()


def _fetch_add_python(array, index, value):
    with _PYTHON_LOCK:
        old = array[index]
        array[index] = old + value
        return old


def _load_python(array, index):
    with _PYTHON_LOCK:
        return array[index]


def _compare_exchange_python(array, index, expected, value):
    with _PYTHON_LOCK:
        found = array[index]
        if found == expected:
            array[index] = value
        return found


def _yield_cpu_python():
    if hasattr(os, "sched_yield"):
        os.sched_yield()
    else:
        time.sleep(0)


def _element_pointer(context, builder, signature, args):
    array_type = signature.args[0]
    array = context.make_array(array_type)(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, array_type, array, [args[1]])


@intrinsic_with_python(_fetch_add_python)
def atomic_fetch_add(typingctx, array, index, value):
    """``array[index] += value`` atomically (int64); returns the old value."""
    if array.dtype != types.int64:
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature, args)
        return builder.atomic_rmw("add", pointer, args[2], "seq_cst")

    return types.int64(array, index, types.int64), codegen


@intrinsic_with_python(_load_python)
def atomic_load(typingctx, array, index):
    """``array[index]`` read with acquire semantics (int64)."""
    if array.dtype != types.int64:
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature, args)
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic_with_python(_compare_exchange_python)
def atomic_compare_exchange(typingctx, array, index, expected, value):
    """If ``array[index] == expected``, set it to ``value``; returns the value
    found (int64)."""
    if array.dtype != types.int64:
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature, args)
        pair = builder.cmpxchg(pointer, args[2], args[3], "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return types.int64(array, index, types.int64, types.int64), codegen


@intrinsic_with_python(_yield_cpu_python)
def yield_cpu(typingctx):
    """Give the CPU to another thread (POSIX ``sched_yield``, Windows'
    ``SwitchToThread``; nothing where neither exists)."""

    def codegen(context, builder, signature, args):
        name = next((f for f in _YIELD_FUNCTIONS if llvm.address_of_symbol(f)), None)
        if name is not None:  # both return an int and take no argument
            fnty = ir.FunctionType(ir.IntType(32), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty, name), [])
        return context.get_dummy_value()

    return types.void(), codegen


@integer_jit
def claim(counters, index, limit):
    """Take the next item number from ``counters[index]`` if it is below
    ``limit``; returns it, or -1 when every item is taken."""
    current = atomic_load(counters, index)
    while current < limit:
        found = atomic_compare_exchange(counters, index, current, current + 1)
        if found == current:
            return current
        current = found
    return -1


@jit
def mark_done(counters, index):
    """Count one finished item (release: its writes become visible)."""
    atomic_fetch_add(counters, index, 1)


@jit
def wait_until(counters, index, target):
    """Wait until ``counters[index] >= target`` (acquire)."""
    spins = 0
    while atomic_load(counters, index) < target:
        spins += 1
        if spins > SPINS_BEFORE_YIELD:
            yield_cpu()

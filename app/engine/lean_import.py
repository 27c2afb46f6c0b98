"""Loading sentence-transformers without the modules it imports but an embedder never runs.

Importing sentence-transformers imports transformers whole, and with it parts of torch,
scikit-learn and SciPy that embedding never calls (RSS on 2 cores, torch 2.13):

* torch's compiler, ``torch._dynamo`` (~30 MB, 300 modules): transformers marks a few
  functions for it as it imports (``assume_constant_result``, ``allow_in_graph``,
  ``torch.compiler.disable``); the embedder never compiles.
* torch's distributed tensors and FSDP (~7 MB, and they import SymPy): transformers
  imports their classes to recognise sharded weights; the embedder's never are.
* scikit-learn's metrics (~70 MB), SciPy's optimizers and sparse matrices (~30 MB): a
  few utilities of sentence-transformers and transformers' object-detection losses.

While the model is imported and loaded (:func:`run_lean`), each of these modules not yet
imported is a stand-in (:data:`STAND_INS`): its functions import the real module when
called; the compiler's markers return the function marked, as the compiler does for code
it does not compile; the distributed classes are classes no tensor here is an instance of.
Afterwards the stand-ins leave ``sys.modules``, so any later import gets the real module.
Should a version of these libraries need more of them, the load is run again the plain way.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

Loaded = TypeVar("Loaded")


@dataclass(frozen=True)
class StandIn:
    """What a stand-in module offers in place of the real one."""

    #: Functions (or classes to construct) that import the real module when called.
    deferred: tuple[str, ...] = ()
    #: The compiler's markers: each returns the function it marks.
    markers: tuple[str, ...] = ()
    #: Classes only checked against (``isinstance``): nothing is an instance of them.
    absent_types: tuple[str, ...] = ()


#: The modules stood in for while sentence-transformers is imported and the model loaded.
STAND_INS: Mapping[str, StandIn] = {
    "sklearn.metrics": StandIn(deferred=("pairwise_distances",)),
    "scipy.optimize": StandIn(deferred=("linear_sum_assignment",)),
    "scipy.sparse": StandIn(deferred=("coo_matrix",)),
    "torch._dynamo": StandIn(markers=("allow_in_graph", "assume_constant_result", "disable")),
    "torch._dynamo._trace_wrapped_higher_order_op": StandIn(deferred=("TransformGetItemToIndex",)),
    "torch.distributed.tensor": StandIn(
        deferred=("distribute_tensor",), absent_types=("DTensor", "Partial", "Replicate", "Shard")
    ),
    "torch.distributed.tensor._utils": StandIn(deferred=("compute_local_shape_and_global_offset",)),
    "torch.distributed.tensor.placement_types": StandIn(absent_types=("Shard", "_StridedShard")),
    "torch.distributed.fsdp": StandIn(absent_types=("CPUOffloadPolicy", "MixedPrecisionPolicy")),
    "torch.distributed._composable.fsdp": StandIn(deferred=("fully_shard",)),
}

#: What a stand-in lacking a name raises: the library needs more than stood in for.
STAND_IN_SHORTFALL = (ImportError, AttributeError, TypeError)


def run_lean(load: Callable[[], Loaded], stand_ins: Mapping[str, StandIn] = STAND_INS) -> Loaded:
    """``load()`` run while the modules of ``stand_ins`` are stand-ins; run again the
    plain way should the stand-ins fall short (a name missing or misused)."""
    try:
        with installed(stand_ins):
            return load()
    except STAND_IN_SHORTFALL:
        return load()


@contextlib.contextmanager
def installed(stand_ins: Mapping[str, StandIn]) -> Iterator[None]:
    """While the block runs, each module of ``stand_ins`` not yet imported is its
    stand-in; afterwards the stand-ins leave ``sys.modules``."""
    absent: dict[str, type] = {}  # one class per name (two modules offer ``Shard``)
    placed = {
        name: _stand_in(name, offer, absent)
        for name, offer in stand_ins.items()
        if name not in sys.modules
    }
    sys.modules.update(placed)
    try:
        yield
    finally:
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def _stand_in(name: str, offer: StandIn, absent: dict[str, type]) -> types.ModuleType:
    module = types.ModuleType(name, "A stand-in: its functions import the real module.")
    for function in offer.deferred:
        setattr(module, function, _forwarder(name, function))
    for marker in offer.markers:
        setattr(module, marker, _unchanged)
    for class_name in offer.absent_types:
        setattr(module, class_name, absent.setdefault(class_name, _absent_type(class_name)))
    return module


def _forwarder(module: str, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def _unchanged(function: Any = None, *_options: Any, **_named: Any) -> Any:
    """A compiler marker, called as ``marker(function)`` or ``marker(options...)(function)``."""
    if callable(function):
        return function
    return _unchanged


def _absent_type(name: str) -> type:
    """A class of ``name`` that nothing is an instance of (built with any arguments)."""

    def __init__(self: object, *_args: object, **_kwargs: object) -> None:
        pass

    return type(name, (), {"__init__": __init__, "__module__": __name__})

"""The allocation engine: where an instance can go, and why not.

htools 3.0.2's allocation logic on the plain model of :mod:`htools.model`,
with the reference's candidate order, failure counting, score arithmetic,
solution sorting and tie-breaking, one module per concern:

- :mod:`.primitives`: the instance-policy check, single-node placement and
  the choice among candidates (``Cluster/AllocatePrimitives.hs``,
  ``Cluster/AllocationSolution.hs``), as the global N+1 check uses them;
- :mod:`.solution`: options, solutions, their descriptions, the trace of
  rejected candidates;
- :mod:`.globaln1`: global N+1 redundancy (``GlobalN1.hs``);
- :mod:`.n1`: the same predicate checked incrementally during allocation;
- :mod:`.place`: ``genAllocNodes`` and ``tryAlloc`` within one group;
- :mod:`.compiled`: ``tryAlloc`` on the compiled core where it applies;
- :mod:`.groups`: allocation across groups (``tryMGAlloc``,
  ``allocList``, ``tryAllocateSecondary``);
- :mod:`.evacuate`: node evacuation, change-group and relocation;
- :mod:`.dedicated`: allocation on dedicated clusters (``Dedicated.hs``);
- :mod:`.capacity`: hspace's iterated and tiered allocation;
- :mod:`.explain`: readable reasons for refused candidates (ours).

Node lists are ``{idx: Node}`` mappings, instance lists ``{idx: Instance}``;
iteration is in key order (htools' ``Container.elems``).  Failures htools
reports as ``Bad`` values raise :class:`~.solution.AllocFailure` with its
message.
"""

"""Column expressions built once per JVM: the transform's builders are memoized here."""
from __future__ import annotations

import functools


def per_jvm(build):
    """Memoize a builder of Column expressions for the running JVM.

    Building the transform's expressions costs thousands of py4j calls (about 1.5 s, for every
    increment of a continuous run); unresolved expressions can be reused by every DataFrame of the
    same JVM. An entry is valid while its gateway is the running one (a released JVM's are not).
    """
    cache: dict = {}

    @functools.wraps(build)
    def cached(*args):
        from pyspark import SparkContext

        gateway = SparkContext._gateway
        hit = cache.get(args)
        if hit is None or hit[0] is not gateway:
            hit = cache[args] = (gateway, build(*args))
        return hit[1]
    return cached

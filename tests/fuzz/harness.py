"""What every fuzz target checks of a parser: for any input it returns or raises its own refusal
(which the registries map to 4xx), within a second, without growing the worker past 100 MB.

The number of examples per target is FUZZ_EXAMPLES (a few dozen by default, so the suite stays quick;
`FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/fuzz` is the long run by hand).
"""
from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
TIME_LIMIT_SECONDS = 1.0
MEMORY_LIMIT_BYTES = 100 * 1024 * 1024
# tracemalloc slows every allocation several times: it watches one input in this many
MEMORY_SAMPLE_EVERY = 8

fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,  # timed below, where a slow machine gets a second try before it counts
    database=None,
    derandomize=EXAMPLES <= 100,  # the suite's bounded run is the same every time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)
# a request through the whole app (database, storage) costs tens of parses: a quarter as many
http_fuzz_settings = settings(fuzz_settings, max_examples=max(10, EXAMPLES // 4))

_calls = {"count": 0}


def survives(parse: Callable[[], object], refusals: tuple[type[BaseException], ...]) -> object:
    """Run `parse()`: its own refusals are fine, anything else fails the test, and so does taking more
    than a second twice in a row or (on a sample) allocating past 100 MB at its peak."""
    _calls["count"] += 1
    watched = _calls["count"] % MEMORY_SAMPLE_EVERY == 0
    if watched:
        tracemalloc.start()
    # CPU time of this thread, not the wall clock: a loaded machine must not fail a parser that is fast.
    started = time.thread_time()
    try:
        result = parse()
    except refusals as refusal:
        result = refusal
    finally:
        elapsed = time.thread_time() - started
        if watched:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    if watched:
        assert peak < MEMORY_LIMIT_BYTES, f"peak of {peak} bytes"
    if elapsed > TIME_LIMIT_SECONDS:
        started = time.thread_time()
        try:
            parse()
        except refusals:
            pass
        elapsed = time.thread_time() - started
        assert elapsed <= TIME_LIMIT_SECONDS, f"took {elapsed:.2f} s twice"
    return result


# ---- inputs ----------------------------------------------------------------------------------------


def mutations_of(seed: bytes, tokens: list[bytes]) -> st.SearchStrategy[bytes]:
    """A valid input with a few edits: bytes inserted, cut, replaced or repeated, or a token of the
    format (a delimiter, a huge number, a hostile declaration) spliced in, repeated up to thousands
    of times."""
    edit = st.tuples(
        st.sampled_from(["insert", "delete", "replace", "repeat", "token"]),
        st.integers(0, len(seed)),
        st.integers(0, 64),
        st.binary(max_size=16),
        st.sampled_from(tokens),
        st.sampled_from([1, 2, 16, 1000, 100_000]),
    )

    def apply(edits) -> bytes:
        data = bytearray(seed)
        for kind, at, length, blob, token, times in edits:
            at = min(at, len(data))
            if kind == "insert":
                data[at:at] = blob
            elif kind == "delete":
                del data[at:at + length]
            elif kind == "replace":
                data[at:at + len(blob)] = blob
            elif kind == "repeat":
                data[at:at] = bytes(data[at:at + length]) * min(times, 1000)
            else:
                data[at:at] = token * times if len(token) * times <= 2_000_000 else token
        return bytes(data)

    return st.lists(edit, min_size=1, max_size=4).map(apply)


def inputs(seed: bytes, tokens: list[bytes]) -> st.SearchStrategy[bytes]:
    """Mutated seeds mostly, and now and then bytes from nowhere."""
    return st.one_of(mutations_of(seed, tokens), mutations_of(seed, tokens), st.binary(max_size=4096))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)

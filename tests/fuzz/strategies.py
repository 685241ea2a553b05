"""Hypothesis settings and strategies shared by the property tests.

Each property runs ``WXLOGIN_PROPERTY_EXAMPLES`` examples (default 200; read at import, as
the suite clears WXLOGIN_* before each test). Nothing is written to a Hypothesis database in
the work tree; a failure prints the seed that reproduces it.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("WXLOGIN_PROPERTY_EXAMPLES") or 200)
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a loaded CI box is slow, not wrong
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Any JSON value: what an upstream (or an attacker) can put in a body.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def objects_with(*keys: str) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects that use the field names the code reads, with any value, or none, in
    each: arbitrary JSON alone almost never reaches past the first check."""
    return st.fixed_dictionaries(
        {}, optional={key: json_values | st.text(max_size=80) for key in keys}
    ).flatmap(
        lambda known: st.dictionaries(st.text(max_size=8), json_values, max_size=2).map(
            lambda extra: {**extra, **known}
        )
    )

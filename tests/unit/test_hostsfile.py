"""A hosts table many containers share: deduplicated once, then each container's own entries first."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.netplumb.container.plugins.module_utils._hostsfile import HostsTable


def reference(own, table):
    """The rule said plainly: own, then the table; each run of entries with the same names (one holder's
    addresses) keeps the names no earlier run took, and goes when none is left."""
    taken, out = set(), []
    for group in (own, table):
        for names, run in itertools.groupby(group, key=lambda entry: entry[1]):
            free = tuple(n for n in names if n not in taken)
            taken |= set(free)
            out += [(address, free) for address, _names in run] if free else []
    return tuple(out)


NAMES = st.lists(st.sampled_from(["web", "db", "web.h1", "db.h2", "cache", "api"]), min_size=1, max_size=3).map(tuple)
ENTRIES = st.lists(st.tuples(st.sampled_from(["10.0.0.2", "10.0.0.3", "fd00::2", "10.0.1.2"]), NAMES), max_size=8)


@settings(max_examples=400, deadline=None)
@given(own=ENTRIES, table=ENTRIES)
def test_the_shared_table_gives_what_the_rule_gives(own, table):
    assert HostsTable(table).merged(own) == reference(own, table)


def test_own_names_leave_the_table_and_one_holder_keeps_both_addresses():
    table = HostsTable(
        [("10.0.0.2", ("web",)), ("fd00::2", ("web",)), ("10.0.0.3", ("db", "web")), ("10.0.0.4", ("db",))]
    )
    assert table.merged([("10.0.0.9", ("db",))]) == (
        ("10.0.0.9", ("db",)),
        ("10.0.0.2", ("web",)),
        ("fd00::2", ("web",)),
    )
    assert table.merged([]) == (("10.0.0.2", ("web",)), ("fd00::2", ("web",)), ("10.0.0.3", ("db",)))

# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hosts file entries: a container's own entries, then a table many containers share, each name once.

Shared by the endpoints role's builder (controller) and the netns engine (host), so that a table of n
containers travels once per run, not once per container (n x n lines for n containers on one network).
"""

from __future__ import annotations

from typing import Iterable

Entry = tuple[str, tuple[str, ...]]  # (address, names)


def merge_entries(own: Iterable[Entry], table: Iterable[Entry]) -> tuple[Entry, ...]:
    """``own`` first; then the table's entries with the names not taken yet (an entry left without a name goes).
    Consecutive entries with the same names are one holder's addresses (IPv4 and IPv6): they keep them all."""
    taken: set[str] = set()
    out: list[Entry] = []
    for entries in (own, table):
        previous: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        for address, names in entries:
            if previous is not None and previous[0] == names:
                free = previous[1]
            else:
                free = tuple(n for n in names if n not in taken)
                taken.update(free)
                previous = (names, free)
            if free:
                out.append((address, free))
    return tuple(out)

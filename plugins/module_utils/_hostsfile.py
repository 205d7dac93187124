# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hosts file entries: a container's own entries, then a table many containers share, each name once.

Shared by the endpoints role's builder (controller) and the netns engine (host), so that a table of n
containers travels once per run, not once per container (n x n lines for n containers on one network).
"""

from __future__ import annotations

from typing import Iterable

Entry = tuple[str, tuple[str, ...]]  # (address, names)


class HostsTable:
    """A table many containers share, deduplicated once (each name to its first holder).

    ``merged(own)`` is a container's file: ``own`` first, then the table's entries with the names not taken yet
    (an entry left without a name goes); consecutive entries with the same names are one holder's addresses
    (IPv4 and IPv6) and keep them all. It costs a copy of the table and a look at the few entries that hold one
    of ``own``'s names, not a pass over every name of it for each container (250 containers on one network:
    62,500 names a run)."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = _dedup(entries, set())
        self._holders: dict[str, list[int]] = {}
        for index, (_address, names) in enumerate(self.entries):
            for name in names:
                self._holders.setdefault(name, []).append(index)

    def merged(self, own: Iterable[Entry]) -> tuple[Entry, ...]:
        taken: set[str] = set()
        first = _dedup(own, taken)
        out = list(self.entries)
        touched = sorted({index for name in taken for index in self._holders.get(name, ())}, reverse=True)
        for index in touched:  # from the end, so that deleting keeps the indices before it
            address, names = out[index]
            free = tuple(n for n in names if n not in taken)
            if free:
                out[index] = (address, free)
            else:
                del out[index]
        return first + tuple(out)


def _dedup(entries: Iterable[Entry], taken: set[str]) -> tuple[Entry, ...]:
    """The entries with the names not in ``taken`` yet, which it then holds too."""
    out: list[Entry] = []
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

# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Keep in sync with resource_argument_spec() in plugins/module_utils/_runner.py.
    DOCUMENTATION = r"""
options:
  state:
    description:
      - V(merged) creates what is missing and sets what O(config) specifies; it never removes objects.
      - V(replaced) is like V(merged), but options left out of an entry return to their defaults.
      - V(overridden) is V(replaced) for the listed objects and also deletes every object that
        this collection created and that O(scope) matches, but is not listed. Needs O(scope).
      - V(deleted) deletes the listed objects; without O(config) it deletes every object that this
        collection created and that O(scope) matches (so it needs O(scope)).
    type: str
    choices: [merged, replaced, overridden, deleted]
    default: merged
  scope:
    description:
      - Which existing objects V(overridden), and V(deleted) without O(config), may remove.
      - Only objects carrying this collection's ownership mark are ever removed this way;
        objects made by Docker, Kubernetes or by hand are never touched.
    type: dict
    suboptions:
      prefix:
        description: Only names that start with this prefix are in scope. Use an empty string for all owned objects.
        type: str
        required: true
  force:
    description:
      - With O(state=deleted) and O(config), also delete listed objects that this collection did not create.
      - M(netplumb.container.netns) and M(netplumb.container.veth) refuse to take over a namespace that this
        collection did not create (one made by hand, by Docker or by another tool under the same name),
        naming it, unless O(force=true); a namespace taken over this way is not marked as the collection's.
    type: bool
    default: false
requirements:
  - pyroute2 >= 0.7 on the managed host
notes:
  - Validation of every entry happens before the first change; bad input changes nothing.
  - The result's C(actions) lists every change made (or, in check mode, planned).
"""

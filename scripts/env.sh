# Sourced by the project's scripts: the virtualenv and collection path.
# shellcheck shell=bash
NETPLUMB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export NETPLUMB_REPO
export NETPLUMB_VENV=${NETPLUMB_VENV:-$NETPLUMB_REPO/.venv}
export PATH="$NETPLUMB_VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$NETPLUMB_REPO/.build"
export ANSIBLE_CONFIG="$NETPLUMB_REPO/ansible.cfg"
export PYTHONPATH="$NETPLUMB_REPO/.build${PYTHONPATH:+:$PYTHONPATH}"
# Ansible's own files (local temp, SSH control sockets, galaxy cache) and molecule's ephemeral
# directories go to .build, not ~/.ansible or ~/.cache: a test run writes nothing outside the checkout.
export ANSIBLE_HOME="$NETPLUMB_REPO/.build/ansible-home"

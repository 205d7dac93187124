# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: lab
short_description: Run tasks inside a host of the local netplumb lab
version_added: 0.1.0
description:
  - Executes commands inside one host of a lab started by the P(netplumb.container.lab#role) role
    (C(playbooks/lab_up.yml)), by entering all of that host's namespaces (network, mount, UTS, IPC and
    PID) with C(nsenter) on the machine running Ansible.
  - Before entering, the host's recorded PID is checked against the marker, start time and network
    namespace inode recorded when the lab started, so a dead host or a reused PID fails with a clear
    message instead of running the task somewhere else.
  - Files are copied in and out with C(cat) through the same C(nsenter), so paths under the host's
    private C(/etc), C(/var/lib) and C(/run) are the host's own.
  - Supports pipelining (on by default), which is what makes tasks fast here.
author:
  - netplumb developers (@netplumb)
requirements:
  - Runs as root on the machine where the lab lives, with C(nsenter) (util-linux) on the C(PATH).
notes:
  - The lab hosts share the controller's filesystem apart from their private C(/etc), C(/var/lib),
    C(/run), C(/sys) and C(/proc), so the controller's Python (with pyroute2) works inside them; the
    P(netplumb.container.lab#inventory) inventory sets C(ansible_python_interpreter) accordingly.
  - The remote user and privilege escalation are ignored; commands run as root.
options:
  lab_name:
    description: Name of the lab the host belongs to.
    type: str
    default: lab
    vars:
      - name: netplumb_lab_name
    env:
      - name: NETPLUMB_LAB_NAME
  lab_host:
    description:
      - Name of the host inside the lab, for example V(h1) or V(outside).
      - Defaults to the inventory host name.
    type: str
    vars:
      - name: netplumb_lab_host
      - name: inventory_hostname
  state_dir:
    description: Directory where the lab launcher keeps the state of its labs.
    type: path
    default: /run/netplumb-lab
    vars:
      - name: netplumb_lab_state_dir
    env:
      - name: NETPLUMB_LAB_STATE_DIR
  pipelining:
    description:
      - Send modules to the host's Python on standard input instead of copying them first.
    type: bool
    default: true
    vars:
      - name: ansible_pipelining
      - name: netplumb_lab_pipelining
    env:
      - name: ANSIBLE_PIPELINING
    ini:
      - section: connection
        key: pipelining
      - section: defaults
        key: pipelining
"""

EXAMPLES = r"""
# In an inventory (the netplumb.container.lab inventory plugin sets all of this itself):
# h1 ansible_connection=netplumb.container.lab netplumb_lab_name=lab
# outside ansible_connection=netplumb.container.lab netplumb_lab_name=lab netplumb_lab_host=outside

# Ad hoc, against a lab named "lab" that playbooks/lab_up.yml started:
# ansible -i inventories/lab all -m ansible.builtin.command -a "ip -br addr"
"""

import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.netplumb.container.plugins.plugin_utils._lab import LabStateError, host_pid, nsenter_argv

display = Display()


class Connection(ConnectionBase):
    """Enters the namespaces of one lab host with nsenter."""

    transport = "netplumb.container.lab"
    has_pipelining = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pid: int | None = None

    def _lab_host(self) -> tuple[str, str]:
        return self.get_option("lab_name"), self.get_option("lab_host") or self._play_context.remote_addr

    def _verified_pid(self) -> int:
        lab, host = self._lab_host()
        try:
            return host_pid(lab, host, self.get_option("state_dir"))
        except LabStateError as e:
            raise AnsibleConnectionFailure(str(e)) from None

    def _connect(self) -> Connection:
        if not self._connected:
            self._pid = self._verified_pid()
            display.vvv(f"ESTABLISH LAB CONNECTION to {'/'.join(self._lab_host())} (pid {self._pid})")
            self._connected = True
        return self

    def _nsenter(self, argv: list[str], stdin=subprocess.PIPE, stdout=subprocess.PIPE) -> subprocess.Popen:
        # Checked on every use: a task can outlive the host (lab_down from another terminal).
        self._pid = self._verified_pid()
        full = nsenter_argv(self._pid) + argv
        display.vvvv(f"EXEC {shlex.join(full)}", host=self._lab_host()[1])
        return subprocess.Popen(full, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        proc = self._nsenter(["/bin/sh", "-c", cmd])
        stdout, stderr = proc.communicate(in_data)
        return proc.returncode, stdout, stderr

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        display.vvv(f"PUT {in_path} TO {out_path}", host=self._lab_host()[1])
        try:
            src = open(to_bytes(in_path, errors="surrogate_or_strict"), "rb")  # noqa: SIM115
        except OSError as e:
            raise AnsibleFileNotFound(f"file or module does not exist: {in_path}: {e}") from None
        with src:
            proc = self._nsenter(["/bin/sh", "-c", f"cat > {shlex.quote(out_path)}"], stdin=src)
            stderr = proc.communicate()[1]
        if proc.returncode != 0:
            raise AnsibleError(f"failed to put {in_path} to {out_path}: {stderr.decode(errors='replace').strip()}")

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        display.vvv(f"FETCH {in_path} TO {out_path}", host=self._lab_host()[1])
        with open(to_bytes(out_path, errors="surrogate_or_strict"), "wb") as dst:
            proc = self._nsenter(["cat", "--", in_path], stdin=subprocess.DEVNULL, stdout=dst)
            stderr = proc.communicate()[1]
        if proc.returncode != 0:
            raise AnsibleError(f"failed to fetch {in_path} to {out_path}: {stderr.decode(errors='replace').strip()}")

    def close(self) -> None:
        self._connected = False

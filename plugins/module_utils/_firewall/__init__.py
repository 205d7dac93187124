# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NAT/firewall engine: one rule model, rendered to nftables or iptables."""

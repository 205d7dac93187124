#!/bin/sh
# Probes of playbooks/verify_fleet.yml, run on each host of the fleet (POSIX sh, iproute2, ping, socat).
#   verify_fleet.sh source NETNS                   -> "eth0 <address>/<prefix> <mtu>"
#   verify_fleet.sh addresses NETNS...             -> "<netns> <address>" per global IPv4 address
#   verify_fleet.sh listen NETNS PORT SECONDS      a TCP listener answering with the peer's address
#   verify_fleet.sh stop PORT                      ends that listener (it also ends by itself)
#   verify_fleet.sh paths NETNS PORT MTU ADDR:e|b...  -> "<addr> ping 0|1", "<addr> tcp <seen>|-", "<addr> mtu 0|1"
set -u
pidfile() { echo "/run/netplumb-verify-fleet.$1.pid"; }

try() {  # try TRIES COMMAND...: success if any of TRIES attempts succeeds
  n=$1; shift
  while [ "$n" -gt 0 ]; do
    "$@" >/dev/null 2>&1 && return 0
    n=$((n - 1))
  done
  return 1
}

one_path() {  # one_path NETNS PORT MTU ADDR E|B
  ns=$1 port=$2 mtu=$3 addr=$4 tries=3
  [ "$5" = b ] && tries=1  # a path expected blocked: one success is already a failure
  if try "$tries" ip netns exec "$ns" ping -n -q -c1 -W2 "$addr"; then echo "$addr ping 1"; else echo "$addr ping 0"; fi
  seen=-
  i=0
  while [ "$i" -lt "$tries" ] && [ "$seen" = - ]; do
    # -t: after our EOF, wait for the answer (socat's 0.5 s default is too short for an emulated VM's fork)
    out=$(ip netns exec "$ns" timeout 30 socat -t20 -T20 - "TCP4:$addr:$port,connect-timeout=5" </dev/null 2>/dev/null)
    [ -n "$out" ] && seen=$out
    i=$((i + 1))
  done
  echo "$addr tcp $seen"
  if try "$tries" ip netns exec "$ns" ping -n -q -c1 -W2 -M do -s $((mtu - 28)) "$addr"; then
    echo "$addr mtu 1"
  else
    echo "$addr mtu 0"
  fi
}

cmd=$1; shift
case $cmd in
source)
  address=$(ip -n "$1" -o -4 addr show dev eth0 scope global | awk '{print $4; exit}')
  mtu=$(ip -n "$1" -o link show dev eth0 | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
  if [ -z "$address" ] || [ -z "$mtu" ]; then
    echo "netns $1: no eth0 with an IPv4 address" >&2
    exit 1
  fi
  echo "eth0 $address $mtu" ;;
addresses)
  for ns in "$@"; do
    ip -n "$ns" -o -4 addr show scope global 2>/dev/null | awk -v ns="$ns" '{split($4, a, "/"); print ns, a[1]}'
  done ;;
listen)
  ns=$1 port=$2 seconds=$3
  "$0" stop "$port"
  # ip netns exec execs (no fork): $! is timeout's pid, and timeout passes a TERM on to socat.
  # -t: after the client's EOF, wait for the answer of the forked shell (slow to start in an emulated VM)
  ip netns exec "$ns" timeout "$seconds" socat -t20 "TCP4-LISTEN:$port,reuseaddr,fork" 'SYSTEM:echo "$SOCAT_PEERADDR"' \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$(pidfile "$port")"
  i=0
  while [ "$i" -lt 100 ]; do
    ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q . && exit 0
    i=$((i + 1))
    sleep 0.1
  done
  echo "listener in netns $ns on port $port did not start" >&2
  exit 1 ;;
stop)
  f=$(pidfile "$1")
  if [ -f "$f" ]; then
    pid=$(cat "$f")
    # Only if it still is our listener (a pid can be reused).
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "socat -t20 TCP4-LISTEN:$1,"; then kill "$pid"; fi
    rm -f "$f"
  fi ;;
paths)
  ns=$1 port=$2 mtu=$3; shift 3
  dir=$(mktemp -d)
  for target in "$@"; do
    one_path "$ns" "$port" "$mtu" "${target%:*}" "${target##*:}" >"$dir/${target%:*}" &
  done
  wait
  cat "$dir"/* 2>/dev/null
  rm -rf "$dir" ;;
*)
  echo "usage: $0 source|addresses|listen|stop|paths ..." >&2
  exit 2 ;;
esac

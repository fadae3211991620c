#!/usr/bin/env bash
# Runs COMMAND with only the loopback interface when this machine allows a new network
# namespace (unshare -n), else as it is. The tests start servers (torchrun's rendezvous, a local
# Ray cluster) that otherwise advertise and connect to the machine's own non-loopback address;
# inside the namespace nothing they start can reach any address but 127.0.0.1.
# Usage: tests/loopback_only.sh COMMAND [ARGS...]   (make test uses it)
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
if unshare -n true 2>/dev/null; then
    exec unshare -n -- sh -c 'ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null; exec "$@"' loopback "$@"
fi
echo "loopback_only: no network namespace here (unshare -n refused); running as is" >&2
exec "$@"

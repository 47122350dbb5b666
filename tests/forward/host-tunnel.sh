#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/forward/host-tunnel.sh BUILD_DIR [--io "packet-ring tap"] [--workers "1 2"]
#                                        [--underlay "4 6"] [--seconds S]
#                                        [--tool-args "--no-gso ..."]
# The tunnel data plane on the host kernel, as root: two network namespaces
# joined by a veth underlay (198.18.1.1/24 <-> 198.18.1.2/24, fd00:1::1/64 <->
# fd00:1::2/64), a tunnel-static in each (static keys, one peer), the mesh-side
# interfaces addressed 198.18.2.1/24 / 198.18.2.2/24 and fd00:2::1/64 /
# fd00:2::2/64. Per io design, worker count and underlay family: ping (IPv4
# and IPv6 inner), iperf3 (throughput recorded), a 16 MiB TCP transfer
# compared by sha256, bad datagrams (replayed, tampered, unknown receiver
# index, garbage, short) each moving its drop counter while traffic still
# flows, a keepalive from a new source port reported as endpoint_changed,
# and the interface gone after exit. Plain veth iperf3 in the same run for
# comparison. One PASS/FAIL line per check, then "N passed, N failed".
# Throughput lines go to BUILD_DIR/host-tunnel-throughput.txt too.
set -u
BUILD=${1:?usage: host-tunnel.sh BUILD_DIR [--io LIST] [--workers LIST] [--underlay LIST] [--seconds S]}
shift
IOS="packet-ring tap"
WORKERS="1 2"
UNDERLAYS="4 6"
SECONDS_IPERF=3
TOOL_ARGS=
while [ $# -gt 0 ]; do
    case $1 in
        --io) IOS=$2; shift 2 ;;
        --workers) WORKERS=$2; shift 2 ;;
        --underlay) UNDERLAYS=$2; shift 2 ;;
        --seconds) SECONDS_IPERF=$2; shift 2 ;;
        --tool-args) TOOL_ARGS=$2; shift 2 ;;
        *) echo "host-tunnel.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL=$BUILD/tests/tunnel-static
PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "host-tunnel.sh: needs root"; exit 2; }
[ -x "$TOOL" ] || { echo "host-tunnel.sh: $TOOL not built"; exit 2; }
for c in ip iperf3 socat sha256sum $PY; do
    command -v "$c" >/dev/null || { echo "host-tunnel.sh: needs $c"; exit 2; }
done

NA=fwdA$$
NB=fwdB$$
WORK=$(mktemp -d /tmp/host-tunnel.XXXXXX)
RESULTS=$BUILD/host-tunnel-throughput.txt
: >"$RESULTS"
PASS=0
FAIL=0
PID_A=
PID_B=
KEY_AB=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
KEY_BA=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
IDX_A=1001
IDX_B=2002
PORT_A=47001
PORT_B=47002
MAC_A=02:00:5e:00:00:0a
MAC_B=02:00:5e:00:00:0b

pass() { echo "PASS $1"; PASS=$((PASS + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; FAIL=$((FAIL + 1)); }
check() { # name command...
    local name=$1
    shift
    if "$@" >>"$WORK/log" 2>&1; then pass "$name"; else fail "$name"; fi
}

stop_tools() {
    for p in $PID_A $PID_B; do kill "$p" 2>/dev/null; done
    for p in $PID_A $PID_B; do wait "$p" 2>/dev/null; done
    PID_A=
    PID_B=
}
cleanup() {
    stop_tools
    ip netns del "$NA" 2>/dev/null
    ip netns del "$NB" 2>/dev/null
}
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM

setup_underlay() {
    ip netns add "$NA" && ip netns add "$NB" || return 1
    ip link add ua netns "$NA" type veth peer name ub netns "$NB" || return 1
    ip -n "$NA" link set lo up
    ip -n "$NB" link set lo up
    ip -n "$NA" addr add 198.18.1.1/24 dev ua
    ip -n "$NB" addr add 198.18.1.2/24 dev ub
    ip -n "$NA" addr add fd00:1::1/64 dev ua nodad
    ip -n "$NB" addr add fd00:1::2/64 dev ub nodad
    ip -n "$NA" link set ua up
    ip -n "$NB" link set ub up
}

# counters NS -> the tool's last counters line after a SIGUSR1
counters() {
    local pid out
    if [ "$1" = A ]; then pid=$PID_A; out=$WORK/a.out; else pid=$PID_B; out=$WORK/b.out; fi
    local before
    before=$(grep -c '"counters"' "$out")
    kill -USR1 "$pid"
    for _ in $(seq 50); do
        [ "$(grep -c '"counters"' "$out")" -gt "$before" ] && break
        sleep 0.05
    done
    grep '"counters"' "$out" | tail -n 1
}
# field JSON a.b -> the number there
field() {
    $PY -c 'import json,sys
d=json.loads(sys.argv[1])
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$1" "$2"
}

wait_ready() {
    for _ in $(seq 100); do
        grep -q '"ready"' "$1" && return 0
        sleep 0.05
    done
    return 1
}

ping_ok() { ip netns exec "$NA" ping -q -c 3 -i 0.2 -W 2 "$@"; }

# increased BEFORE AFTER REASON -> true if drops.REASON went up
increased() { [ "$(field "$2" "drops.$3")" -gt "$(field "$1" "drops.$3")" ]; }

iperf() { # name target streams
    local name=$1 target=$2 streams=$3 json bps
    ip netns exec "$NB" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
    local server=$!
    sleep 0.3
    json=$(ip netns exec "$NA" timeout $((SECONDS_IPERF + 15)) iperf3 -c "$target" -p 5201 \
        -t "$SECONDS_IPERF" -P "$streams" -J 2>/dev/null)
    wait $server 2>/dev/null
    bps=$($PY -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))' \
        <<<"$json" 2>/dev/null)
    if [ -n "$bps" ] && [ "$bps" -gt 0 ]; then
        local line
        line=$(printf '%-36s %8.0f Mbit/s' "$name" "$(echo "$bps / 1000000" | bc -l)")
        echo "$line" >>"$RESULTS"
        echo "# $line"
        return 0
    fi
    return 1
}

transfer_ok() {
    head -c 16M /dev/urandom >"$WORK/send.bin"
    ip netns exec "$NB" timeout 30 socat -u TCP-LISTEN:5301,reuseaddr OPEN:"$WORK/recv.bin",creat,trunc &
    local server=$!
    sleep 0.3
    ip netns exec "$NA" timeout 30 socat -u FILE:"$WORK/send.bin" TCP:198.18.2.2:5301 || return 1
    wait $server
    [ "$(sha256sum <"$WORK/send.bin")" = "$(sha256sum <"$WORK/recv.bin")" ]
}

run_case() { # io workers family
    local io=$1 w=$2 fam=$3 name="$1/w$2/v$3" addr_a addr_b
    if [ "$fam" = 4 ]; then
        addr_a=198.18.1.1; addr_b=198.18.1.2
        ep_a=$addr_a:$PORT_A; ep_b=$addr_b:$PORT_B
    else
        addr_a=fd00:1::1; addr_b=fd00:1::2
        ep_a="[$addr_a]:$PORT_A"; ep_b="[$addr_b]:$PORT_B"
    fi
    setup_underlay || { fail "$name setup"; cleanup; return; }
    : >"$WORK/a.out"
    : >"$WORK/b.out"
    ip netns exec "$NA" "$TOOL" --io "$io" --workers "$w" --listen "$ep_a" --peer "$ep_b" \
        --mac $MAC_A --peer-mac $MAC_B --local-index $IDX_A --peer-index $IDX_B \
        --tx-key "$KEY_AB" --rx-key "$KEY_BA" $TOOL_ARGS >"$WORK/a.out" 2>&1 &
    PID_A=$!
    ip netns exec "$NB" "$TOOL" --io "$io" --workers "$w" --listen "$ep_b" --peer "$ep_a" \
        --mac $MAC_B --peer-mac $MAC_A --local-index $IDX_B --peer-index $IDX_A \
        --tx-key "$KEY_BA" --rx-key "$KEY_AB" $TOOL_ARGS >"$WORK/b.out" 2>&1 &
    PID_B=$!
    if ! wait_ready "$WORK/a.out" || ! wait_ready "$WORK/b.out"; then
        fail "$name start" "$(cat "$WORK/a.out" "$WORK/b.out" | head -5)"
        cleanup
        return
    fi
    pass "$name start"
    ip -n "$NA" addr add 198.18.2.1/24 dev mesh-vpn
    ip -n "$NB" addr add 198.18.2.2/24 dev mesh-vpn
    ip -n "$NA" addr add fd00:2::1/64 dev mesh-vpn nodad
    ip -n "$NB" addr add fd00:2::2/64 dev mesh-vpn nodad

    check "$name ping inner IPv4" ping_ok 198.18.2.2
    check "$name ping inner IPv6" ping_ok fd00:2::2
    check "$name ping inner IPv4 1252 bytes (full MTU)" ping_ok -s 1252 -M do 198.18.2.2
    check "$name iperf3" iperf "tunnel $io workers=$w underlay=v$fam${TOOL_ARGS:+ $TOOL_ARGS}" 198.18.2.2 "$w"
    check "$name 16 MiB TCP transfer intact (sha256)" transfer_ok

    local before after
    before=$(counters A)
    if ip netns exec "$NA" $PY "$HERE/inject.py" bad ua "$addr_a" $PORT_A >>"$WORK/log" 2>&1 &
        ip netns exec "$NB" ping -q -c 10 -i 0.1 198.18.2.1 >/dev/null 2>&1 && wait $!; then
        sleep 0.3
        after=$(counters A)
        check "$name replayed datagram dropped (replay_duplicate)" increased "$before" "$after" replay_duplicate
        check "$name tampered datagram dropped (bad_tag)" increased "$before" "$after" bad_tag
        check "$name unknown receiver index dropped (unknown_session)" increased "$before" "$after" unknown_session
        check "$name garbage dropped (bad_header)" increased "$before" "$after" bad_header
        check "$name short datagram dropped (short)" increased "$before" "$after" short
    else
        fail "$name inject" "no datagram captured"
    fi
    check "$name traffic flows after bad datagrams" ping_ok 198.18.2.2

    # Last: a valid keepalive with a far-ahead counter from a new port (it
    # moves the replay window past the peer's counters).
    before=$(counters A)
    ip netns exec "$NA" $PY "$HERE/inject.py" keepalive "$addr_a" $PORT_A $IDX_A "$KEY_BA" $((1 << 59)) >>"$WORK/log" 2>&1
    sleep 0.3
    after=$(counters A)
    check "$name authenticated keepalive counted" \
        test "$(field "$after" counters.rx_keepalives)" -gt "$(field "$before" counters.rx_keepalives)"
    check "$name endpoint_changed reported" grep -q '"event":"endpoint_changed"' "$WORK/a.out"
    check "$name no ring_full/pool_empty/send_failed drops" test \
        "$(($(field "$after" drops.ring_full) + $(field "$after" drops.pool_empty) + $(field "$after" drops.send_failed)))" = 0

    stop_tools
    check "$name exit: final counters printed" grep -q '"counters"' "$WORK/a.out"
    check "$name no sanitizer reports" bash -c "! grep -E 'ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error' '$WORK/a.out' '$WORK/b.out'"
    check "$name exit: mesh-vpn removed" bash -c "! ip -n $NA link show mesh-vpn 2>/dev/null && ! ip -n $NA link show mesh-vpn_dp 2>/dev/null"
    cleanup
}

for fam in $UNDERLAYS; do
    setup_underlay
    target=198.18.1.2
    [ "$fam" = 6 ] && target=fd00:1::2
    check "plain veth iperf3 v$fam" iperf "plain veth underlay=v$fam" $target 1
    cleanup
    for io in $IOS; do
        for w in $WORKERS; do
            run_case "$io" "$w" "$fam"
        done
    done
done

echo "# throughput ($SECONDS_IPERF s each, iperf3 TCP, -P workers):"
sed 's/^/# /' "$RESULTS"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]

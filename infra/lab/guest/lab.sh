# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for lab scenarios (busybox sh). Results go to fd 3 (the second
# serial port) as "PASS name" / "FAIL name: detail".

# Debian's static busybox prefers its own applets to $PATH; the lab needs
# iproute2's ip and tc (netns, veth, batadv, netem).
ip() { /usr/sbin/ip "$@"; }
tc() { /usr/sbin/tc "$@"; }

# pass NAME / fail NAME DETAIL
pass() { echo "PASS $1" >&3; echo "PASS $1"; }
fail() { echo "FAIL $1: $2" | tr '\n' ' ' | head -c 2000 >&3; echo >&3; echo "FAIL $1: $2"; }
# skip NAME WHY: a check not run, counted as skipped.
skip() { echo "SKIP $1: $2" >&3; echo "SKIP $1: $2"; }
# lab_full: true when the lab was started with LAB_FULL=1: the long parts
# that CI leaves out run too.
lab_full() { grep -qw 'lab_full=1' /proc/cmdline; }
# lab_seed: LAB_SEED of the host (0 when unset), for scenarios that replay.
lab_seed() { sed -n 's/.*lab_seed=\([0-9]*\).*/\1/p' /proc/cmdline; }

# check NAME CMD...: passes when CMD exits 0; its output is the detail on failure.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -n 5)"; fi
}

# check_json NAME JQ_FILTER CMD...: passes when CMD succeeds and `jq -e FILTER` holds on its output.
check_json() {
    local name=$1 filter=$2 out
    shift 2
    if ! out=$("$@" 2>&1); then
        fail "$name" "$(echo "$out" | tail -n 5)"
    elif echo "$out" | jq -e "$filter" >/dev/null 2>&1; then
        pass "$name"
    else
        fail "$name" "$filter does not hold for: $(echo "$out" | jq -c . 2>/dev/null | head -c 1500)"
    fi
}

# on NODE CMD...: run in the node's network namespace.
on() {
    local node=$1
    shift
    ip netns exec "$node" "$@"
}

# topology: reads "node A B ..." and "link A B [netem ARGS]" lines on stdin.
# In node A the veth towards B is called "l-B".
topology() {
    local kind a b
    while read -r kind a b rest; do
        case $kind in
            node)
                for n in $a $b $rest; do
                    ip netns add "$n"
                    on "$n" ip link set lo up
                    mkdir -p "/tmp/lab/$n"
                done ;;
            link)
                ip link add "l-$b" netns "$a" type veth peer name "l-$a" netns "$b"
                on "$a" ip link set "l-$b" mtu 1560 up
                on "$b" ip link set "l-$a" mtu 1560 up
                if [ -n "$rest" ]; then
                    on "$a" tc qdisc add dev "l-$b" root $rest
                    on "$b" tc qdisc add dev "l-$a" root $rest
                fi ;;
            ''|'#'*) ;;
        esac
    done
}

# link_loss A B PERCENT [PREFIX]: both ends of the veth between A and B
# (PREFIX-B in A, PREFIX-A in B; PREFIX is l, or u for an underlay) drop
# PERCENT% of what they send; 100 cuts the link. Repeatable.
link_loss() {
    local a=$1 b=$2 pct=$3 p=${4:-l}
    on "$a" tc qdisc replace dev "$p-$b" root netem loss "$pct%"
    on "$b" tc qdisc replace dev "$p-$a" root netem loss "$pct%"
}

# link_restore A B [PREFIX]: undoes link_loss.
link_restore() {
    local a=$1 b=$2 p=${3:-l}
    on "$a" tc qdisc del dev "$p-$b" root
    on "$b" tc qdisc del dev "$p-$a" root
}

# wait_until SECONDS CMD...: retries CMD every 0.5 s; returns its last status.
wait_until() {
    local deadline=$(( $(date +%s) + $1 ))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.5
    done
}

# meshd_start NODE CONFIG_JSON: starts meshd in the node; socket /tmp/lab/NODE/meshd.sock.
meshd_start() {
    local node=$1 cfg=$2 dir=/tmp/lab/$1
    echo "$cfg" | jq --arg s "$dir/meshd.sock" '.control.socket = $s | .metrics.listen //= "127.0.0.1:9474"' >"$dir/meshd.json"
    # An external command, not the `on` function, so that $! is meshd itself.
    /usr/sbin/ip netns exec "$node" meshd --foreground --config "$dir/meshd.json" >"$dir/meshd.log" 2>&1 &
    echo $! >"$dir/meshd.pid"
    wait_until 10 test -S "$dir/meshd.sock"
}

# meshd_stop NODE: SIGTERM, then waits for meshd to exit; returns its status.
# Call it directly, not under `check` (a subshell cannot wait for it).
meshd_stop() {
    local pid
    pid=$(cat "/tmp/lab/$1/meshd.pid")
    kill "$pid" 2>/dev/null
    wait "$pid"
}

# ctl NODE ARGS...: meshctl against the node's meshd.
ctl() {
    local node=$1
    shift
    on "$node" meshctl --socket "/tmp/lab/$node/meshd.sock" "$@"
}

# batman_up NODE [ALGO]: batctl creates bat0 over every l-* veth of the node.
batman_up() {
    local node=$1 algo=${2:-BATMAN_IV} ifs
    ifs=$(on "$node" ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^l-')
    on "$node" ip link add bat0 type batadv
    for i in $ifs; do on "$node" batctl meshif bat0 interface add "$i"; done
    on "$node" ip link set bat0 up
}

# same_set NAME A_CMD A_FILTER B_CMD B_FILTER: the two commands' JSON arrays,
# each mapped to one line per entry by its jq filter, hold the same lines.
# Retried for 10 s, since a table can change between the two reads.
same_set() {
    local name=$1 acmd=$2 afilter=$3 bcmd=$4 bfilter=$5 a b
    _same() {
        a=$(eval "$acmd" | jq -r ".[] | $afilter" | sort) || return 1
        b=$(eval "$bcmd" | jq -r ".[] | $bfilter" | sort) || return 1
        [ "$a" = "$b" ]
    }
    if wait_until 10 _same; then
        pass "$name"
    else
        fail "$name" "meshd: $(echo $a | head -c 700) | batctl: $(echo $b | head -c 700)"
    fi
}

# eventually_json NAME JQ_FILTER CMD...: like check_json, retried for 10 s.
eventually_json() {
    local name=$1 filter=$2 out
    shift 2
    _holds() { out=$("$@" 2>&1) && echo "$out" | jq -e "$filter" >/dev/null 2>&1; }
    if wait_until 10 _holds "$@"; then
        pass "$name"
    else
        fail "$name" "$filter does not hold for: $(echo "$out" | jq -c . 2>/dev/null | head -c 1500)"
    fi
}

# metric NODE NAME_AND_LABELS: the value of one sample of the node's /metrics
# (the node's meshd listens on 127.0.0.1:9474 in its namespace).
metric() {
    on "$1" wget -qO- http://127.0.0.1:9474/metrics | awk -v m="$2" 'index($0, m " ") == 1 {print $2}'
}

# monitor_start NODE: records the node's monitor events in /tmp/lab/NODE/events.
monitor_start() {
    /usr/sbin/ip netns exec "$1" meshctl --socket "/tmp/lab/$1/meshd.sock" --json monitor \
        >"/tmp/lab/$1/events" 2>/dev/null &
    echo $! >"/tmp/lab/$1/monitor.pid"
    sleep 0.3
}

# has_event NODE JQ_FILTER: some recorded event matches.
has_event() {
    jq -e -s "any(.[]; $2)" "/tmp/lab/$1/events" >/dev/null 2>&1
}

# spire_bridge NODE: the node's Workload API at /tmp/lab/NODE/agent.sock,
# bridged to the host's fake SPIRE agent over the virtio-serial port
# spire.NODE (scenarios declare "# lab: spire NODE..."). The SVID is
# spiffe://lab.test/node/NODE.
spire_bridge() {
    mkdir -p "/tmp/lab/$1"
    vport-bridge "spire.$1" "/tmp/lab/$1/agent.sock" >/dev/null 2>>"/tmp/lab/$1/bridge.log" &
    echo $! >"/tmp/lab/$1/bridge.pid"
    wait_until 10 test -S "/tmp/lab/$1/agent.sock"
}

# spire_stop NODE: the node's Workload API goes away (the bridge is killed
# and its socket removed) as when the SPIRE agent stops; spire_bridge NODE
# brings it back. Each connection is a session of its own on the host.
spire_stop() {
    kill "$(cat "/tmp/lab/$1/bridge.pid")" 2>/dev/null
    wait "$(cat "/tmp/lab/$1/bridge.pid")" 2>/dev/null
    rm -f "/tmp/lab/$1/agent.sock"
}

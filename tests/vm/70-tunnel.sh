# The tunnel: two nodes whose only link is meshd's encrypted UDP tunnel form
# a batman-adv mesh. Each node's only hard interface is mesh-vpn; the
# underlay between them is a plain IP veth that batman-adv never sees. Keys
# come over the mTLS peer channel, with SVIDs from fake SPIRE agents on the
# host (one per node, bridged into the VM over virtio-serial). n1 moves its
# frames through the multi-queue TAP, n2 through the veth + AF_PACKET rings:
# the two I/O designs speak the same wire format. Cutting the underlay takes
# the tunnel down and the originators age out; restoring it brings both back.
# lab: spire n1 n2
topology <<T
node n1 n2
T
ip link add u-n2 netns n1 type veth peer name u-n1 netns n2
on n1 ip addr add 198.18.0.1/24 dev u-n2
on n2 ip addr add 198.18.0.2/24 dev u-n1
on n1 ip link set u-n2 up
on n2 ip link set u-n1 up

check "n1: Workload API bridged from the host" spire_bridge n1
check "n2: Workload API bridged from the host" spire_bridge n2

cfg() { # cfg NODE OWN_IP PEER_IP IO
    echo "{\"mesh\": {\"manage\": true, \"hardifs\": [], \"poll_interval_ms\": 500,
        \"settings\": {\"orig_interval_ms\": 400}},
      \"log\": {\"level\": \"debug\"},
      \"spiffe\": {\"endpoint\": \"unix:///tmp/lab/$1/agent.sock\", \"trust_domain\": \"lab.test\",
        \"node_name\": \"$1\", \"listen\": \"$2:7946\", \"peers\": [\"$3:7946\"],
        \"peer_retry_ms\": 1000, \"handshake_timeout_ms\": 20000},
      \"tunnel\": {\"enabled\": true, \"io\": \"$4\", \"workers\": 1, \"listen\": \"0.0.0.0:7947\"}}"
}
meshd_start n1 "$(cfg n1 198.18.0.1 198.18.0.2 tap)"
meshd_start n2 "$(cfg n2 198.18.0.2 198.18.0.1 packet-ring)"
monitor_start n1

check_json "n1: identity is its SVID from the host's agent" \
    '.spiffe_id == "spiffe://lab.test/node/n1"' ctl n1 --json identity
up() { ctl "$1" --json peers | jq -e 'any(.[]; .tunnel.state == "up")'; }
check "n1: the tunnel to n2 is up" wait_until 90 up n1
check "n2: the tunnel to n1 is up" wait_until 30 up n2
check_json "n1: status names the tunnel's I/O design (tap)" '.tunnel.io == "tap"' ctl n1 --json status
check_json "n2: status names the tunnel's I/O design (packet-ring)" '.tunnel.io == "packet-ring"' ctl n2 --json status

only_vpn() { [ "$(on "$1" batctl meshif bat0 interface)" = "mesh-vpn: active" ]; }
check "n1: mesh-vpn is bat0's only hard interface, active" wait_until 20 only_vpn n1
check "n2: mesh-vpn is bat0's only hard interface, active" wait_until 20 only_vpn n2

n1mac=$(on n1 cat /sys/class/net/mesh-vpn/address)
n2mac=$(on n2 cat /sys/class/net/mesh-vpn/address)
via_vpn() { on "$1" batctl oj | jq -e ".[] | select(.orig_address == \"$2\" and .best and .hard_ifname == \"mesh-vpn\")"; }
check "n1: batctl shows n2 as an originator through mesh-vpn" wait_until 60 via_vpn n1 "$n2mac"
check "n2: batctl shows n1 as an originator through mesh-vpn" wait_until 30 via_vpn n2 "$n1mac"
check_json "n1: meshctl originators agree with batctl" \
    "any(.[]; .originator == \"$n2mac\" and .neighbor == \"$n2mac\" and .best)" ctl n1 --json originators

on n1 ip addr add 198.18.10.1/24 dev bat0
on n2 ip addr add 198.18.10.2/24 dev bat0
pings() { on n1 ping -c 3 -W 2 -q 198.18.10.2; }
check "n1 pings n2 over bat0, through the tunnel" wait_until 30 pings
counted() {
    ctl n1 --json peers | jq -e 'any(.[]; .tunnel.state == "up" and .tunnel.rx_packets > 10 and .tunnel.tx_packets > 10)'
}
check "n1: the tunnel counted batman-adv's frames both ways" counted
check_json "n1: the peers row carries the tunnel's cipher and endpoint" \
    'any(.[]; .tunnel.endpoint == "198.18.0.2:7947" and (.tunnel.cipher | length) > 0)' ctl n1 --json peers
tunnel_pkts() {
    v=$(metric n1 "meshd_tunnel_packets_total{direction=\"rx\",peer=\"spiffe://lab.test/node/n2\"}")
    awk -v v="$v" 'BEGIN { exit !(v > 0) }'
}
check "n1: meshd_tunnel_packets_total counts n2's frames" tunnel_pkts

# Cut the underlay: every datagram and the peer channel's TCP are lost.
cut_at=$(date +%s)
link_loss n1 n2 100 u
went_down() { has_event n1 '.event == "tunnel_down" and (.reason | length) > 0'; }
check "n1: cutting the underlay brings tunnel_down, with a reason" wait_until 90 went_down
echo "INFO tunnel_down $(( $(date +%s) - cut_at )) s after the cut" >&3
gone() { ! on n1 batctl oj | jq -e ".[] | select(.orig_address == \"$n2mac\")"; }
check "n1: n2's originator ages out of batman-adv" wait_until 300 gone
echo "INFO n2 aged out $(( $(date +%s) - cut_at )) s after the cut" >&3
removed() { has_event n1 ".event == \"originator_removed\" and .originator == \"$n2mac\""; }
check "n1: monitor reports originator_removed for n2" wait_until 10 removed
lost() { has_event n1 ".event == \"neighbor_down\" and .neighbor == \"$n2mac\" and .hardif == \"mesh-vpn\""; }
check "n1: monitor reports neighbor_down for n2 on mesh-vpn" wait_until 10 lost

# Restore it: the peer channel redials, the tunnel comes back, so does n2.
back_at=$(date +%s)
link_restore n1 n2 u
up_again() { [ "$(jq -s '[.[] | select(.event == "tunnel_up")] | length' /tmp/lab/n1/events)" -ge 2 ]; }
check "n1: tunnel_up again after the underlay is restored" wait_until 120 up_again
check "n1: n2 is an originator through mesh-vpn again" wait_until 60 via_vpn n1 "$n2mac"
echo "INFO n2 back $(( $(date +%s) - back_at )) s after the restore" >&3
check "n1 pings n2 over bat0 again" wait_until 30 pings

for n in n1 n2; do
    if grep -q 'Sanitizer\|runtime error' "/tmp/lab/$n/meshd.log"; then
        fail "$n: meshd log is clean" "$(grep -m 3 'Sanitizer\|runtime error' "/tmp/lab/$n/meshd.log")"
    else
        pass "$n: meshd log is clean"
    fi
done
meshd_stop n2
check "n2: meshd stops cleanly with the tunnel up" [ $? -eq 0 ]

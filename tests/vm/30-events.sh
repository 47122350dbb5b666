# Events: a ring of 4 nodes under meshd's management. Cutting a link makes
# meshd report the neighbour loss and the best next hop change, counts the
# path change, and the mesh reconverges when the link comes back.
topology <<T
node n1 n2 n3 n4
link n1 n2
link n2 n3
link n3 n4
link n4 n1
T
for n in n1 n2 n3 n4; do
    hardifs=$(on $n ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^l-' | jq -R . | jq -s -c .)
    meshd_start $n "{\"mesh\": {\"manage\": true, \"hardifs\": $hardifs, \"poll_interval_ms\": 300,
        \"settings\": {\"orig_interval_ms\": 200}}}"
done
direct() { on n1 batctl oj | jq -e '.[] | select(.best and .orig_address == .neigh_address and .hard_ifname == "l-n2")' >/dev/null; }
check "ring converges: n1 reaches n2 directly" wait_until 40 direct
n2mac=$(on n2 cat /sys/class/net/l-n1/address)
check_json "n1: originators show n2 as a direct best route" \
    "any(.[]; .originator == \"$n2mac\" and .neighbor == \"$n2mac\" and .best)" ctl n1 --json originators
before=$(metric n1 'meshd_path_changes_total{mesh="bat0"}')
check "n1: meshd_path_changes_total is exported" [ -n "$before" ]
monitor_start n1

# Cut n1 <-> n2: every frame on the link is lost; the route to n2 must move
# to the way round through n4 as n2's OGMs keep arriving there.
cut_at=$(date +%s)
link_loss n1 n2 100
moved() { has_event n1 ".event == \"best_next_hop_changed\" and .originator == \"$n2mac\" and .from.hardif == \"l-n2\" and .to.hardif == \"l-n4\""; }
check "n1: monitor reports n2's best next hop moving from l-n2 to l-n4" wait_until 60 moved
echo "INFO best-hop change reported $(( $(date +%s) - cut_at )) s after the cut" >&3
after=$(metric n1 'meshd_path_changes_total{mesh="bat0"}')
check "n1: meshd_path_changes_total rose ($before -> $after)" awk -v a="$after" -v b="$before" 'BEGIN { exit !(a > b) }'

# Restore: the direct route comes back.
link_restore n1 n2
check "link restored: n1 reaches n2 directly again" wait_until 60 direct
back() { has_event n1 ".event == \"best_next_hop_changed\" and .originator == \"$n2mac\" and .to.hardif == \"l-n2\""; }
check "n1: monitor reports the route back onto l-n2" wait_until 10 back

# An operator takes the hardif down: meshd reports it and does not undo it.
on n1 ip link set l-n2 down
check "n1: monitor reports hardif_inactive for l-n2" wait_until 10 has_event n1 '.event == "hardif_inactive" and .hardif == "l-n2"'
check "n1: monitor reports neighbor_down for n2 on l-n2" \
    wait_until 10 has_event n1 ".event == \"neighbor_down\" and .neighbor == \"$n2mac\" and .hardif == \"l-n2\""
sleep 1
still_down() { ! on n1 ip link show l-n2 | grep -q ',UP'; }
check "n1: meshd leaves the hardif down as the operator set it" still_down
check_json "n1: status reports l-n2 as down" '.mesh.hardif_states["l-n2"] == "down"' ctl n1 --json status
on n1 ip link set l-n2 up
check "n1: monitor reports neighbor_up for n2 again" \
    wait_until 15 has_event n1 ".event == \"neighbor_up\" and .neighbor == \"$n2mac\" and .hardif == \"l-n2\""

# Metrics of the mesh.
orig_count() { [ "$(metric n1 'meshd_originators{mesh="bat0"}')" = "$(on n1 batctl oj | jq '[.[] | select(.best)] | length')" ]; }
check "n1: meshd_originators{mesh=bat0} matches batctl's best routes" wait_until 10 orig_count
degree() { [ "$(metric n1 'meshd_node_degree{mesh="bat0"}')" = 2 ]; }
check "n1: meshd_node_degree is 2" wait_until 10 degree
tq() { v=$(metric n1 "meshd_neighbor_tq_ratio{hardif=\"l-n4\",mesh=\"bat0\",neighbor=\"$(on n4 cat /sys/class/net/l-n1/address)\"}"); awk -v v="$v" 'BEGIN { exit !(v > 0 && v <= 1) }'; }
check "n1: meshd_neighbor_tq_ratio for n4 is in (0, 1]" wait_until 10 tq
mgmt() { v=$(metric n1 'meshd_mesh_packets_total{counter="mgmt_tx",mesh="bat0"}'); awk -v v="$v" 'BEGIN { exit !(v > 0) }'; }
check "n1: batman-adv traffic counters exported (mgmt_tx > 0)" wait_until 10 mgmt

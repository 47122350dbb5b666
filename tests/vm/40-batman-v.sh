# BATMAN_V: meshd creates the mesh with the throughput algorithm; throughput
# is reported in kbit/s for originators and neighbours, tq is null, and no
# table is empty.
topology <<T
node n1 n2 n3
link n1 n2
link n2 n3
T
for n in n1 n2 n3; do
    hardifs=$(on $n ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^l-' | jq -R . | jq -s -c .)
    meshd_start $n "{\"mesh\": {\"manage\": true, \"algorithm\": \"BATMAN_V\", \"hardifs\": $hardifs,
        \"poll_interval_ms\": 500, \"settings\": {\"orig_interval_ms\": 250}}}"
done
check_json "n1: mesh runs BATMAN_V" '.algorithm == "BATMAN_V"' ctl n1 --json mesh
converged() { [ "$(on n1 batctl oj | jq '[.[] | select(.best)] | length')" -ge 2 ]; }
check "BATMAN_V mesh converges: n1 routes to n2 and n3" wait_until 60 converged
eventually_json "n1: originators carry throughput, tq is null" \
    'length >= 2 and all(.[]; .tq == null and (.throughput_kbps | type) == "number" and .throughput_kbps > 0)' \
    ctl n1 --json originators
eventually_json "n1: neighbours carry throughput" \
    'length >= 1 and all(.[]; (.throughput_kbps | type) == "number" and .throughput_kbps > 0)' \
    ctl n1 --json neighbors
same_set "n1: originators match batctl oj under BATMAN_V" "ctl n1 --json originators" \
    '"\(.originator) \(.neighbor) \(.hardif) \(.best)"' \
    "on n1 batctl oj" '"\(.orig_address) \(.neigh_address) \(.hard_ifname) \(.best // false)"'
tp_close() {
    local m b
    m=$(ctl n1 --json neighbors) && b=$(on n1 batctl nj) || return 1
    jq -n --argjson m "$m" --argjson b "$b" -e '
        [ $m[] as $x | $b[] | select(.neigh_address == $x.neighbor) |
          (.throughput - $x.throughput_kbps) / .throughput | if . < 0 then -. else . end ]
        | (length > 0) and (max <= 0.2)'
}
check "n1: neighbour throughput agrees with batctl nj (kbit/s, within 20%)" wait_until 10 tp_close
check_json "n1: interfaces show the ELP interval under BATMAN_V" 'all(.[]; .elp_interval_ms > 0)' ctl n1 --json interfaces
check_json "n2: topology links carry throughput" '(.links | length) == 2 and all(.links[]; .throughput_kbps > 0)' ctl n2 --json topology
tput_metric() { on n1 wget -qO- http://127.0.0.1:9474/metrics | grep -q '^meshd_neighbor_throughput_bytes_per_second{.*} [1-9]'; }
check "n1: meshd_neighbor_throughput_bytes_per_second exported" wait_until 10 tput_metric

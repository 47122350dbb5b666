# Observe mode on a mesh made by batctl: every table meshd reports matches
# batctl's on every node of a 5-node BATMAN_IV mesh.
topology <<T
node n1 n2 n3 n4 n5
link n1 n2
link n2 n3
link n3 n4
link n1 n3
link n4 n5
T
for n in n1 n2 n3 n4 n5; do batman_up $n; done
on n5 batctl meshif bat0 gw_mode server 50mbit/10mbit
on n1 batctl meshif bat0 gw_mode client
on n2 batctl meshif bat0 hop_penalty 40
converged() { [ "$(on n1 batctl oj | jq '[.[] | select(.best)] | length')" -ge 4 ]; }
check "mesh converges: n1 has routes to 4 originators" wait_until 60 converged
gateway_seen() { [ "$(on n1 batctl gwj | jq length)" -ge 1 ]; }
check "n1 sees n5's gateway announcement" wait_until 30 gateway_seen

for n in n1 n2 n3 n4 n5; do
    meshd_start $n '{"mesh": {"manage": false}}'
done

for n in n1 n2 n3 n4 n5; do
    M="ctl $n --json"
    B="on $n batctl"
    same_set "$n: originators match batctl oj" "$M originators" \
        '"\(.originator) \(.neighbor) \(.hardif) \(.best)"' \
        "$B oj" '"\(.orig_address) \(.neigh_address) \(.hard_ifname) \(.best // false)"'
    tq_close() {
        local m b
        m=$(ctl $n --json originators) && b=$(on $n batctl oj) || return 1
        jq -n --argjson m "$m" --argjson b "$b" -e '
            [ $m[] as $x | $b[] | select(.orig_address == $x.originator and
              .neigh_address == $x.neighbor) | (.tq - $x.tq) | if . < 0 then -. else . end ]
            | (length > 0) and (max <= 25)'
    }
    check "$n: originator TQs agree with batctl within 25" wait_until 10 tq_close
    same_set "$n: neighbors match batctl nj" "$M neighbors" '"\(.neighbor) \(.hardif)"' \
        "$B nj" '"\(.neigh_address) \(.hard_ifname)"'
    same_set "$n: interfaces match batctl hj" "$M interfaces" \
        '"\(.hardif) \(.active) \(.mac) \(.hop_penalty)"' \
        "$B hj" '"\(.hard_ifname) \(.active) \(.hard_address) \(.hop_penalty)"'
    same_set "$n: gateways match batctl gwj" "$M gateways" '"\(.originator) \(.router) \(.best)"' \
        "$B gwj" '"\(.orig_address) \(.router) \(.best // false)"'
    same_set "$n: local translations match batctl tlj" "$M translations local" \
        '"\(.client) \(.vid)"' "$B tlj" '"\(.tt_address) \(.tt_vid)"'
    # Multicast listener addresses are announced by every node; which of those
    # announcers is "best" can change from one dump to the next, so the best
    # flag is compared only for clients with one announcer.
    tt_global_same() {
        local m b
        m=$(ctl $n --json translations global) && b=$(on $n batctl tgj) || return 1
        jq -n -e --argjson m "$m" --argjson b "$b" '
            ([$m[] | "\(.client) \(.originator) \(.vid)"] | sort) ==
              ([$b[] | "\(.tt_address) \(.orig_address) \(.tt_vid)"] | sort)
            and ([$m[] | select(.best)] | group_by("\(.client) \(.vid)") | all(length == 1))
            and ([$m[] | select(.best) | "\(.client) \(.vid) \(.originator)"] as $mb
                 | [$b | group_by("\(.tt_address) \(.tt_vid)")[] | select(length == 1)[]
                    | select(.best) | "\(.tt_address) \(.tt_vid) \(.orig_address)"]
                 | all(.[]; . as $x | $mb | index($x) != null))'
    }
    check "$n: global translations match batctl tgj (best flag for single announcers)" \
        wait_until 10 tt_global_same
done

check_json "n2: mesh reports hop_penalty 40 set by batctl" '.settings.hop_penalty == 40' ctl n2 --json mesh
check_json "n5: mesh reports gw_mode server with 50 Mbit/s down" \
    '.settings.gw_mode == "server" and .settings.gw_bandwidth_down_kbps == 50000' ctl n5 --json mesh
check_json "n1: gateway bandwidth in kbit/s" '.[0].bandwidth_down_kbps == 50000 and .[0].bandwidth_up_kbps == 10000' ctl n1 --json gateways
check_json "n1: tq set and throughput null under BATMAN_IV" \
    'length >= 4 and all(.[]; .tq != null and .throughput_kbps == null)' ctl n1 --json originators
check_json "n1: status reports the mesh ok" '.mesh.state == "ok" and .mesh.algorithm == "BATMAN_IV"' ctl n1 --json status
# Secondary hardifs of BATMAN_IV neighbours are originators of their own, so
# count the expected nodes from batctl.
topology_matches() {
    local t best
    t=$(ctl n1 --json topology) && best=$(on n1 batctl oj | jq '[.[] | select(.best)] | length') || return 1
    echo "$t" | jq -e --argjson best "$best" '(.links | length) == 2 and (.nodes | length) == $best + 1'
}
check "n1: topology has itself, every best originator, and links to its 2 neighbours" wait_until 10 topology_matches
human_table() { ctl n1 originators | grep -q '^\* .*l-n'; }
check "n1: human originator table marks best routes" human_table

# Observe mode still lets an operator change settings, and batctl sees them.
check_json "n3: set orig_interval_ms=700 in observe mode reads back 700" \
    '.settings.orig_interval_ms == 700' ctl n3 --json set orig_interval_ms=700
oi700() { [ "$(on n3 batctl meshif bat0 orig_interval)" = 700 ]; }
check "n3: batctl reads the orig_interval meshctl set" oi700
check_json "n3: observe mode did not create or change hardifs" '.mesh.manage == false and .mesh.hardif_states == {}' ctl n3 --json status

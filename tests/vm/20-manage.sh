# Manage mode from nothing: meshd creates bat0 with the configured algorithm,
# attaches the hardifs, applies settings and reads them back; batctl sees the
# same. Then faults: the mesh interface and a hardif vanish under meshd.
topology <<T
node n1 n2 n3
link n1 n2
link n2 n3
T
cfg() { # cfg NODE HARDIFS_JSON
    echo "{\"mesh\": {\"manage\": true, \"hardifs\": $2, \"poll_interval_ms\": 500,
      \"settings\": {\"orig_interval_ms\": 400, \"hop_penalty\": 40, \"gw_mode\": \"off\"}}}"
}
meshd_start n1 "$(cfg n1 '[{"name": "l-n2", "settings": {"hop_penalty": 7}}, "l-late"]')"
# n2 polls only every 30 s: restoring it after faults relies on link events.
meshd_start n2 "$(echo "$(cfg n2 '["l-n1", "l-n3"]')" | jq '.mesh.poll_interval_ms = 30000')"
meshd_start n3 "$(echo "$(cfg n3 '["l-n2"]')" | jq '.mesh.teardown_on_exit = true')"

is_batadv() { on "$1" ip -d link show bat0 | grep -q batadv; }
check "n1: bat0 is a batadv link" is_batadv n1
oi() { [ "$(on "$1" batctl meshif bat0 orig_interval)" = "$2" ]; }
hp() { [ "$(on "$1" batctl meshif bat0 hop_penalty)" = "$2" ]; }
check "n1: batctl reads orig_interval 400 set by meshd" oi n1 400
check "n2: batctl reads hop_penalty 40 set by meshd" hp n2 40
hardif_hp() { on n1 batctl hardif l-n2 hop_penalty | grep -qx 7; }
check "n1: hardif hop_penalty 7 applied to l-n2" hardif_hp
attached() { on "$1" batctl meshif bat0 interface | grep -q "^$2: active"; }
check "n2: l-n1 active" wait_until 10 attached n2 l-n1
check "n2: l-n3 active" wait_until 10 attached n2 l-n3
check_json "n1: status reports l-late as missing" '.mesh.hardif_states["l-late"] == "missing" and .mesh.state == "ok"' ctl n1 --json status
check_json "n1: status reports the applied settings without differences" \
    '.mesh.settings_applied.mesh.differences == [] and .mesh.settings_applied.hardifs["l-n2"].effective.hop_penalty == 7' ctl n1 --json status
check_json "n1: version lists the kernel's routing algorithms" \
    '(.routing_algorithms | index("BATMAN_IV")) != null and (.routing_algorithms | index("BATMAN_V")) != null' ctl n1 --json version
check_cfg() { on n1 meshd --check --config /tmp/lab/n1/meshd.json; }
check "n1: meshd --check accepts its config on a kernel with batman-adv" check_cfg

converged() { [ "$(on n1 batctl oj | jq '[.[] | select(.best)] | length')" -ge 2 ]; }
check "managed mesh converges: n1 routes to n2 and n3" wait_until 40 converged

# The throughput meter: the result arrives on the tpmeter group.
n3mac=$(on n3 cat /sys/class/net/l-n2/address)
check_json "n1: tp to n3 completes with bytes and a throughput" \
    '.complete == true and .bytes > 0 and .throughput_kbps > 0 and .test_time_ms >= 1000' \
    ctl n1 --json --timeout 5 tp "$n3mac" --time 1.5
tp_human() { ctl n1 tp "$n3mac" --time 1 2>/dev/null | grep -q '^Throughput: '; }
check "n1: meshctl tp prints the throughput like batctl tp" tp_human
# Cancelling a running 20 s test stops it early. (batman-adv 2022.3 reports
# a cancelled run with the "complete" reason and the time it really ran.)
( ctl n1 tp "$n3mac" --time 20 >/tmp/lab/tp.out 2>&1; echo $? >/tmp/lab/tp.rc ) &
sleep 1
check "n1: tp --cancel is accepted" ctl n1 tp "$n3mac" --cancel
check "n1: the cancelled tp run ends within 10 s" wait_until 10 test -f /tmp/lab/tp.rc
ended_early() {
    local ms
    ms=$(sed -n 's/^Test duration \([0-9]*\) ms\./\1/p' /tmp/lab/tp.out)
    [ -n "$ms" ] && [ "$ms" -lt 10000 ]
}
check "n1: the cancelled run reports a duration well under 20 s" ended_early

# Multicast flags and VLAN settings.
eventually_json "n1: multicast lists the originators' flags" \
    'length >= 2 and all(.[]; (.originator | test("^[0-9a-f:]{17}$")) and (.flags | type) == "array")' \
    ctl n1 --json multicast
on n1 ip link add link bat0 name bat0.5 type vlan id 5
on n1 ip link set bat0.5 up
check_json "n1: set --vlan 5 ap_isolation=true reads back true" \
    '.vlan == 5 and .settings.ap_isolation == true and .differences == []' ctl n1 --json set --vlan 5 ap_isolation=true
vlan_iso() { on n1 batctl meshif bat0 vid 5 ap_isolation | grep -qE '^(1|enabled)$'; }
check "n1: batctl reads ap_isolation on VLAN 5" vlan_iso
no_vlan() { ! ctl n1 set --vlan 7 ap_isolation=true 2>/dev/null; }
check "n1: set on a VLAN that does not exist fails" no_vlan

tp_unreachable() { ! ctl n1 tp 02:de:ad:be:ef:00 --time 1 2>/dev/null; }
check "n1: tp to an unknown originator fails with exit 1" tp_unreachable


monitor_start n1
# A hardif that appears later is attached by the next poll.
ip link add l-late netns n1 type veth peer name l-n1b netns n2
on n1 ip link set l-late up
on n2 ip link set l-n1b up
check "n1: late hardif attached when it appears" wait_until 10 attached n1 l-late
check "n1: monitor reported hardif_attached for l-late" wait_until 5 has_event n1 '.event == "hardif_attached" and .hardif == "l-late"'

# set: applies, reads back, and batctl sees it.
check_json "n1: set orig_interval_ms=1000 reads back 1000" \
    '.settings.orig_interval_ms == 1000 and .differences == []' ctl n1 --json set orig_interval_ms=1000
check "n1: batctl reads orig_interval 1000 after meshctl set" oi n1 1000
check_json "n1: set reports the kernel rounding gw bandwidth to 100 kbit/s" \
    '.settings.gw_bandwidth_down_kbps == 12300 and (.differences | length) == 1' ctl n1 --json set gw_bandwidth_down_kbps=12345
check_json "n1: set --hardif changes a hardif setting" '.settings.hop_penalty == 9' ctl n1 --json set --hardif l-n2 hop_penalty=9
set_bad() { ! ctl n1 set hop_penalty=999 2>/dev/null; }
check "n1: set rejects an out-of-range value" set_bad
# Changes made by others arrive on the config multicast group.
on n1 batctl meshif bat0 hop_penalty 55
check "n1: monitor reports settings_changed when batctl sets hop_penalty" \
    wait_until 5 has_event n1 '.event == "settings_changed" and .settings.hop_penalty == 55'

# Faults: bat0 deleted under meshd is recreated with hardifs and settings.
on n2 ip link del bat0
recreated() { is_batadv n2 && attached n2 l-n1 && attached n2 l-n3 && hp n2 40; }
check "n2: bat0 deleted under meshd is restored within 5 s (link events, not the 30 s poll)" wait_until 5 recreated
check_json "n2: meshd still answers after losing bat0" '.mesh.state == "ok"' ctl n2 --json status
on n2 ip link set l-n3 nomaster
check "n2: a detached hardif is attached again within 5 s" wait_until 5 attached n2 l-n3
# A configured hardif deleted under meshd: reported missing, meshd stays up,
# and attached again when it comes back.
on n1 ip link del l-late
check "n1: monitor reports hardif_missing when l-late is deleted" \
    wait_until 5 has_event n1 '.event == "hardif_missing" and .hardif == "l-late"'
check_json "n1: status shows l-late missing and the mesh still ok" \
    '.mesh.hardif_states["l-late"] == "missing" and .mesh.state == "ok"' ctl n1 --json status
ip link add l-late netns n1 type veth peer name l-n1c netns n2
on n1 ip link set l-late up
on n2 ip link set l-n1c up
check "n1: the re-created l-late is attached again" wait_until 5 attached n1 l-late

reconverged() { [ "$(on n1 batctl oj | jq '[.[] | select(.best)] | length')" -ge 2 ]; }
check "mesh reconverges after the faults" wait_until 40 reconverged

# teardown_on_exit removes bat0 on shutdown; the default leaves it up.
meshd_stop n3; rc=$?
check "n3: meshd exits 0 on SIGTERM" [ "$rc" = 0 ]
gone() { ! on n3 ip link show bat0 >/dev/null 2>&1; }
check "n3: teardown_on_exit removed bat0 on shutdown" gone
meshd_stop n1; rc=$?
check "n1: meshd exits 0 on SIGTERM" [ "$rc" = 0 ]
check "n1: bat0 stays up after meshd stops (default)" is_batadv n1

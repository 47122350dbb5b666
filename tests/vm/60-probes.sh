# The eBPF probes on the lab's kernels (Debian's 6.1 and the backports one;
# the same binary loads on the host's too): n1 meshes with n2 and n3; its probe counts frames from each
# real neighbour, and measures loss when n2's link drops half its frames.
topology <<T
node n1 n2 n3
link n1 n2
link n1 n3
T
for n in n1 n2 n3; do
    hardifs=$(on $n ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^l-' | jq -R . | jq -s -c .)
    meshd_start $n "{\"mesh\": {\"manage\": true, \"hardifs\": $hardifs, \"poll_interval_ms\": 500,
        \"settings\": {\"orig_interval_ms\": 200}}, \"probes\": {\"enabled\": true}}"
done
n2mac=$(on n2 ip -j link show l-n1 | jq -r '.[0].address')
n3mac=$(on n3 ip -j link show l-n1 | jq -r '.[0].address')

eventually_json "n1: the link probe is loaded and attached to both hard interfaces" \
    '.[0].probe == "link" and .[0].loaded and (.[0].attached | sort) == ["l-n2", "l-n3"]' \
    ctl n1 --json probes
check_json "n1: status reports the probes ok" '.probes.state == "ok"' ctl n1 --json status
# CO-RE: the same binary picks this kernel's layout of tcp:tcp_retransmit_skb:
# 6.1 has (sk, skb), later kernels (sk, skb, err). What to expect comes from
# the kernel's BTF as bpftool reads it, not from meshd.
kver=$(uname -r)
proto=$(bpftool btf dump file /sys/kernel/btf/vmlinux format c 2>/dev/null | grep 'btf_trace_tcp_retransmit_skb)(')
case $proto in
    *'sk_buff *, int)'*) want="sk, skb, err" ;;
    *'sk_buff *)'*) want="sk, skb" ;;
    *) want="" ;;
esac
if [ -z "$want" ]; then
    fail "n1: bpftool reads tcp_retransmit_skb's arguments from $kver's BTF" "got: ${proto:-nothing}"
fi
check_json "n1: tier B tcp_retransmits loads on $kver with its ($want) event" \
    "any(.[]; .probe == \"tcp_retransmits\" and .loaded and .event_arguments == \"$want\")" \
    ctl n1 --json probes
check_json "n1: tier B qdisc_sojourn loads on $kver" \
    'any(.[]; .probe == "qdisc_sojourn" and .loaded)' ctl n1 --json probes
check_json "n1: tier B drops loads on $kver and names reasons from its BTF" \
    'any(.[]; .probe == "drops" and .loaded and .reasons_named)' ctl n1 --json probes
rx() { ctl n1 --json links | jq --arg m "$1" --arg h "$2" '[.[] | select(.neighbor == $m and .hardif == $h) | .rx_packets] | add // 0'; }
seen() { [ "$(rx "$n2mac" l-n2)" -gt 10 ] && [ "$(rx "$n3mac" l-n3)" -gt 10 ]; }
check "n1: frames from n2 (on l-n2) and n3 (on l-n3) are counted" wait_until 20 seen
a=$(rx "$n2mac" l-n2)
sleep 2
b=$(rx "$n2mac" l-n2)
check "n1: n2's counter grows ($a, then $b)" test "$b" -gt "$a"
check_json "n1: no frames from n3 counted on l-n2" \
    "[.[] | select(.neighbor == \"$n3mac\" and .hardif == \"l-n2\")] | length == 0" ctl n1 --json links
eventually_json "n1: n2's OGM sequence numbers are tracked" \
    "any(.[]; .neighbor == \"$n2mac\" and .seq_received > 5)" ctl n1 --json links
check "n1: meshd_probe_loaded{probe=\"link\"} is 1" test "$(metric n1 'meshd_probe_loaded{probe="link"}')" = 1
pkts=$(metric n1 "meshd_link_packets_total{direction=\"rx\",hardif=\"l-n2\",neighbor=\"$n2mac\"}")
check "n1: meshd_link_packets_total for n2 is exported ($pkts)" test "${pkts:-0}" -gt 0
check "n1: batman-adv frame types are counted (OGMs)" \
    test "$(metric n1 'meshd_link_frames_total{direction="rx",hardif="l-n2",type="ogm"}' | cut -d. -f1)" -gt 0

# Device and qdisc counters over rtnetlink, CAKE's tins included.
on n1 tc qdisc add dev l-n2 root cake bandwidth 5mbit
eventually_json "n1: netdev reads l-n2's device counters and its CAKE tins' delays" \
    'any(.[]; .probe == "netdev" and .interfaces["l-n2"].tx_packets > 0 and
        any(.interfaces["l-n2"].qdiscs[]; (.qdisc | startswith("cake:")) and (.tins | length) >= 3
            and all(.tins[]; .avg_delay_us >= 0)))' ctl n1 --json probes
cake_metric() { on n1 wget -qO- http://127.0.0.1:9474/metrics | grep -c '^meshd_qdisc_cake_delay_seconds{delay="avg",interface="l-n2"'; }
check "n1: meshd_qdisc_cake_delay_seconds has l-n2's tins" test "$(cake_metric)" -ge 3
on n1 tc qdisc del dev l-n2 root

# Half of what n2 sends to n1 is lost: the ratio over the last 60 s rises.
on n2 tc qdisc add dev l-n1 root netem loss 50%
loss() { ctl n1 --json links | jq --arg m "$1" '[.[] | select(.neighbor == $m) | .loss_ratio // 0] | max // 0'; }
lossy() { jq -n -e --argjson l "$(loss "$n2mac")" '$l > 0.2'; }
if wait_until 40 lossy; then pass "n1: n2's loss ratio rises above 20% with 50% loss ($(loss "$n2mac"))"
else fail "n1: n2's loss ratio rises above 20% with 50% loss" "ratio $(loss "$n2mac")"; fi
check "n1: n3's link stays clean (loss ratio $(loss "$n3mac"))" jq -n -e --argjson l "$(loss "$n3mac")" '$l < 0.1'
m=$(metric n1 "meshd_link_loss_ratio{hardif=\"l-n2\",neighbor=\"$n2mac\"}")
# Read a moment after the JSON above, the ratio may have moved a little
# either way (netem's losses come in runs): the metric has to show the loss,
# not cross the same line again.
check "n1: meshd_link_loss_ratio for n2 is exported ($m)" jq -n -e --argjson l "${m:-0}" '$l > 0.1'

# An interface that goes away and comes back gets the probe again (a new
# ifindex): manage mode re-attaches it to bat0, the probe follows.
ogm_n3() { metric n1 'meshd_link_frames_total{direction="rx",hardif="l-n3",type="ogm"}' | cut -d. -f1; }
ogm_before=$(ogm_n3)
on n1 ip link del l-n3
topology <<T
link n1 n3
T
eventually_json "n1: the link probe is attached to the re-created l-n3" \
    '(.[0].attached | sort) == ["l-n2", "l-n3"]' ctl n1 --json probes
n3mac=$(on n3 ip -j link show l-n1 | jq -r '.[0].address')
back() { [ "$(rx "$n3mac" l-n3)" -gt 3 ]; }
check "n1: frames from n3 are counted again on the new l-n3" wait_until 20 back
ogm_after=$(ogm_n3)
check "n1: meshd_link_frames_total of l-n3 went on from where it was ($ogm_before, then $ogm_after)" \
    test "${ogm_after:-0}" -ge "${ogm_before:-1}"
check_json "n1: no per-MAC rows but the neighbours', broadcast and other" \
    "all(.[]; .neighbor == \"other\" or .neighbor == \"ff:ff:ff:ff:ff:ff\" or .neighbor == \"$n2mac\" or .neighbor == \"$n3mac\")" ctl n1 --json links

for n in n1 n2 n3; do meshd_stop $n; done
# tc itself must answer: a failing `tc filter show` is not "no filter".
removed() { out=$(/usr/sbin/ip netns exec n1 /usr/sbin/tc filter show dev l-n2 ingress) && ! echo "$out" | grep -q 'pref 28019'; }
check "n1: meshd removed its tc programs on exit" removed

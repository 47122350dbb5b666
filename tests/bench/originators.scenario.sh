# VM scenario of tests/bench/originators: meshd against batctl on one node
# that batman-inject fills with N originators and N translation-table
# clients. Prints "| " table rows; see tests/bench/originators.
S=/tmp/lab/n1/meshd.sock
D=/tmp/lab/inj
topology <<T
node n1 inj
link n1 inj
T

m() { metric n1 "$1"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.4f", a / b }'; }
fmul() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a * b }'; }
jf() { echo "$2" | jq -r "$1"; }
loop_over5() {
    on n1 wget -qO- http://127.0.0.1:9474/metrics | awk '
        /^meshd_event_loop_iteration_seconds_count/ {n = $2}
        /^meshd_event_loop_iteration_seconds_bucket\{le="0.005"\}/ {b = $2}
        END {print n - b}'
}
loop_worst() { # FAMILY: the smallest bucket bound that holds every iteration
    on n1 wget -qO- http://127.0.0.1:9474/metrics | awk -v f="$1" '
        index($0, f "_count ") == 1 {n = $2}
        index($0, f "_bucket{") == 1 { split($1, p, "\""); le[++k] = p[2]; c[k] = $2 }
        END { for (i = 1; i <= k; i++) if (c[i] == n) { print le[i] * 1000; exit } }'
}
cpu_over5() {
    on n1 wget -qO- http://127.0.0.1:9474/metrics | awk '
        /^meshd_event_loop_iteration_cpu_seconds_count/ {n = $2}
        /^meshd_event_loop_iteration_cpu_seconds_bucket\{le="0.005"\}/ {b = $2}
        END {print n - b}'
}

echo "INFO calibration in the VM: $(scale-probe spin)" >&3
echo "| originators | TT clients | meshd dump oj ms | batctl oj ms | ratio | meshd dump tg ms | batctl tgj ms | ratio | originators request ms (meshctl --json) | scrape p50 ms | RSS MB | CPU ms/poll | status p99/max ms | loop >5 ms wall (all / window) | worst loop ms wall | loop >5 ms CPU (all / window) | worst loop ms CPU |" >&3
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" >&3
for N in 1000 10000; do
    batman_up n1
    /usr/sbin/ip netns exec inj batman-inject --interface l-n1 --originators $N --clients $N \
        --interval 2000 >$D/out 2>$D/err &
    inj=$!
    oj_at_least() { [ "$(on n1 batctl meshif bat0 oj | jq '[.[] | select(.best)] | length')" -ge "$1" ]; }
    tg_at_least() { [ "$(on n1 batctl meshif bat0 tgj | jq 'length')" -ge "$1" ]; }
    check "N=$N: batctl oj shows every originator" wait_until 120 oj_at_least $((N + 1))
    check "N=$N: batctl tgj shows every client" wait_until 120 tg_at_least $N
    meshd_start n1 '{"mesh": {"manage": false, "poll_interval_ms": 2000}}'
    full() { [ "$(m 'meshd_originators{mesh="bat0"}')" = "$((N + 1))" ] &&
             [ "$(m 'meshd_translation_table_entries{mesh="bat0",table="global"}')" -ge "$N" ]; }
    check "N=$N: meshd sees every originator and client" wait_until 60 full
    pid=$(cat /tmp/lab/n1/meshd.pid)

    # A quiet window: dump times and CPU per poll with nothing else asking.
    os0=$(m 'meshd_netlink_dump_duration_seconds_sum{table="originators"}')
    oc0=$(m 'meshd_netlink_dump_duration_seconds_count{table="originators"}')
    ts0=$(m 'meshd_netlink_dump_duration_seconds_sum{table="translations_global"}')
    tc0=$(m 'meshd_netlink_dump_duration_seconds_count{table="translations_global"}')
    cpu0=$(jf .cpu_s "$(scale-probe proc --pid $pid)")
    sleep 12
    os1=$(m 'meshd_netlink_dump_duration_seconds_sum{table="originators"}')
    oc1=$(m 'meshd_netlink_dump_duration_seconds_count{table="originators"}')
    ts1=$(m 'meshd_netlink_dump_duration_seconds_sum{table="translations_global"}')
    tc1=$(m 'meshd_netlink_dump_duration_seconds_count{table="translations_global"}')
    cpu1=$(jf .cpu_s "$(scale-probe proc --pid $pid)")
    polls=$(fsub "$oc1" "$oc0")
    dump_o=$(fmul "$(fdiv "$(fsub "$os1" "$os0")" "$polls")" 1000)
    dump_t=$(fmul "$(fdiv "$(fsub "$ts1" "$ts0")" "$(fsub "$tc1" "$tc0")")" 1000)
    cpu=$(fmul "$(fdiv "$(fsub "$cpu1" "$cpu0")" "$polls")" 1000)

    # A busy window: status every 5 ms while the polls go on.
    over0=$(loop_over5)
    cover0=$(cpu_over5)
    status=$(on n1 scale-probe status --socket $S --duration-ms 12000 --gap-ms 5)
    over1=$(loop_over5)
    cover1=$(cpu_over5)
    proc=$(scale-probe proc --pid $pid)

    b_oj=$(on n1 scale-probe run --count 5 -- batctl meshif bat0 oj)
    b_tg=$(on n1 scale-probe run --count 5 -- batctl meshif bat0 tgj)
    c_oj=$(on n1 scale-probe run --count 5 -- meshctl --socket $S --json originators)
    r_oj=$(on n1 scale-probe request --socket $S --cmd originators --count 5)
    scrape=$(on n1 scale-probe scrape --addr 127.0.0.1:9474 --count 20)
    echo "| $N | $N | $dump_o | $(jf .p50_ms "$b_oj") | $(fdiv "$dump_o" "$(jf .p50_ms "$b_oj")") | $dump_t | $(jf .p50_ms "$b_tg") | $(fdiv "$dump_t" "$(jf .p50_ms "$b_tg")") | $(jf .p50_ms "$r_oj") ($(jf .p50_ms "$c_oj")) | $(jf .p50_ms "$scrape") | $(fdiv "$(jf .rss_kb "$proc")" 1024) | $cpu | $(jf .p99_ms "$status")/$(jf .max_ms "$status") | $over1 / $(fsub "$over1" "$over0" | cut -d. -f1) | $(loop_worst meshd_event_loop_iteration_seconds) | $cover1 / $(fsub "$cover1" "$cover0" | cut -d. -f1) | $(loop_worst meshd_event_loop_iteration_cpu_seconds) |" >&3
    echo "INFO N=$N: $polls polls in the quiet window; status $status; scrape $scrape; originators reply $r_oj; meshd $proc" >&3

    meshd_stop n1
    kill $inj
    wait $inj 2>/dev/null
    on n1 ip link del bat0
done

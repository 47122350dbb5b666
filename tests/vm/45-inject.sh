# batman-inject: one BATMAN_IV node (n1) meets a single neighbour (inj) that
# announces 200 synthetic originators and 400 translation-table clients.
# batctl on n1 must list exactly those originators, routed via the injector
# with tq > 0, and the clients with their announcing originators; SIGUSR1
# adds 1000 originators, SIGUSR2 withdraws them again.
topology <<T
node n1 inj
link n1 inj
T
batman_up n1
D=/tmp/lab/inj
inj_mac=$(on inj ip -j link show l-n1 | jq -r '.[0].address')

# synthetic_macs FROM TO: the addresses of originators FROM..TO (1-based).
synthetic_macs() {
    local i=$1
    while [ "$i" -le "$2" ]; do
        printf '02:ba:7e:%02x:%02x:%02x\n' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255))
        i=$((i + 1))
    done
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
oj() { on n1 batctl meshif bat0 oj; }

check "batman-inject --help exits 0" batman-inject --help
bad_args() { batman-inject --interface l-n1 --originators lots; [ $? -eq 2 ]; }
check "batman-inject exits 2 on a bad --originators" bad_args
no_iface() { batman-inject --interface nosuch --originators 1; [ $? -eq 2 ]; }
check "batman-inject exits 2 on a missing interface" no_iface

started_at=$(uptime_s)
/usr/sbin/ip netns exec inj batman-inject --interface l-n1 --originators 200 --clients 400 \
    --interval 1000 --verbose >$D/out 2>$D/err &
inj_pid=$!
started() { grep -qx 'originators 200' $D/out; }
check "batman-inject starts and prints 'originators 200'" wait_until 5 started

is_neigh() { on n1 batctl meshif bat0 nj | jq -e --arg m "$inj_mac" 'any(.[]; .neigh_address == $m)'; }
check "n1 has the injector ($inj_mac) as a neighbour" wait_until 20 is_neigh

# origs_are NAME WANT_FILE SECONDS: oj lists exactly the originators in
# WANT_FILE (sorted), each via the injector with tq > 0.
origs_are() {
    local name=$1 want=$2 got
    _origs() {
        got=$(oj) || return 1
        [ "$(echo "$got" | jq -r '.[].orig_address' | sort -u)" = "$(cat "$want")" ] &&
            echo "$got" | jq -e --arg m "$inj_mac" 'all(.[]; .tq > 0 and .neigh_address == $m)'
    }
    if wait_until "$3" _origs; then
        pass "$name"
    else
        fail "$name" "want $(wc -l <"$want") originators, oj has $(echo "$got" | jq 'length') rows,
            $(echo "$got" | jq '[.[] | select(.tq == 0)] | length') with tq 0;
            missing: $(echo "$got" | jq -r '.[].orig_address' | sort -u | comm -13 - "$want" | head -n 5 | tr '\n' ' ')"
    fi
}
{ echo "$inj_mac"; synthetic_macs 1 200; } | sort >$D/want200
origs_are "n1 lists exactly the 200 synthetic originators plus the injector, via it, tq > 0" $D/want200 20
echo "INFO 200 originators in batctl oj $(awk -v a="$started_at" -v b="$(uptime_s)" 'BEGIN {printf "%.1f", b - a}') s after start" >&3
check_json "the injector's own originator entry is a direct route" \
    "any(.[]; .orig_address == \"$inj_mac\" and .neigh_address == \"$inj_mac\" and .best)" oj

# Translation table: client j (1-based) is 06:ba:7e:jj:jj:jj and is announced
# by originator ((j - 1) mod 200) + 1.
tt_right() {
    on n1 batctl meshif bat0 tgj | jq -e '
        def hex: ascii_downcase | explode
            | map(if . >= 97 then . - 87 else . - 48 end) | reduce .[] as $d (0; . * 16 + $d);
        def suffix: split(":")[3:] | join("") | hex;
        [.[] | select(.tt_address | startswith("06:ba:7e:"))] as $c
        | ($c | length) == 400
          and ([$c[].tt_address] | unique | length) == 400
          and all($c[]; (.orig_address | startswith("02:ba:7e:"))
                  and (.orig_address | suffix) == ((.tt_address | suffix) - 1) % 200 + 1)'
}
check "n1's global translation table has the 400 clients, each at its originator" wait_until 20 tt_right
tt_requests() { on n1 batctl meshif bat0 statistics | awk '$1 == "tt_request_tx:" {print $2}'; }
r1=$(tt_requests)
sleep 4
r2=$(tt_requests)
steady() { [ -n "$r1" ] && [ "$r1" = "$r2" ]; }
check "n1 stops asking for tables once the CRCs match ($r1 then $r2 TT requests)" steady

kill -USR1 $inj_pid
grew() { grep -qx 'originators 1200' $D/out; }
check "SIGUSR1: batman-inject prints 'originators 1200'" wait_until 5 grew
{ echo "$inj_mac"; synthetic_macs 1 1200; } | sort >$D/want1200
origs_are "after SIGUSR1 n1 lists exactly 1200 synthetic originators plus the injector" $D/want1200 20

kill -USR2 $inj_pid
shrank() { [ "$(tail -n 1 $D/out)" = "originators 200" ]; }
check "SIGUSR2: batman-inject prints 'originators 200'" wait_until 5 shrank
# batman-adv purges an originator only after 200 s; until then the withdrawn
# ones must simply stop being refreshed while the rest keep being refreshed.
synthetic_macs 201 1200 | jq -R . | jq -s -c . >$D/withdrawn.json
sleep 1
oj >$D/oj-a.json
sleep 3
oj >$D/oj-b.json
refresh_ok() {
    jq -n -e --slurpfile a $D/oj-a.json --slurpfile b $D/oj-b.json --slurpfile w $D/withdrawn.json '
        ($w[0] | map({key: ., value: true}) | from_entries) as $gone
        | ([$a[0][] | {key: .orig_address, value: .last_seen_msecs}] | from_entries) as $before
        | $b[0] as $b
        | [$b[] | select($gone[.orig_address])] as $old
        | [$b[] | select($gone[.orig_address] | not)] as $kept
        | ($old | length) == 1000 and ($kept | length) == 201
          and all($old[]; .last_seen_msecs >= 3000
                  and .last_seen_msecs - $before[.orig_address] >= 2500)
          and all($kept[]; .last_seen_msecs < 2500)'
}
check "after SIGUSR2 the 1000 withdrawn originators age (last_seen grows), the 200 stay fresh" refresh_ok

kill -TERM $inj_pid
wait $inj_pid
rc=$?
check "batman-inject exits 0 on SIGTERM (exit $rc)" [ "$rc" -eq 0 ]
echo "INFO injector:$(tail -n 1 $D/err | cut -d: -f3-)" >&3

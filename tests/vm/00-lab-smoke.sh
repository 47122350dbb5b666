# The lab itself: a 4-node chain meshed by batctl, meshd observing two nodes.
topology <<T
node n1 n2 n3 n4
link n1 n2
link n2 n3
link n3 n4
T
for n in n1 n2 n3 n4; do batman_up $n; done

converged() { [ "$(on n1 batctl oj | jq length)" -ge 3 ]; }
check "mesh converges: n1 sees 3 originators" wait_until 40 converged

# What the running kernel says its batman-adv is (no version written here:
# the lab boots Debian's kernel and the backports one).
kmod_version=$(cat /sys/module/batman_adv/version)
batctl_says=$(batctl -v | sed -n 's/.*\[batman-adv: \([^]]*\)\].*/\1/p')
check "batctl -v and /sys/module agree on batman-adv ($kmod_version, $batctl_says)" \
    test -n "$kmod_version" -a "$kmod_version" = "$batctl_says"
for n in n1 n4; do
    meshd_start $n '{"mesh": {"manage": false}}'
    check "$n: meshd answers" ctl $n version
    check_json "$n: meshd sees the running kernel's batman-adv ($kmod_version)" \
        ".batman_adv_version == \"$kmod_version\"" ctl $n --json version
done

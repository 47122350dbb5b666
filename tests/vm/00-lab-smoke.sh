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

for n in n1 n4; do
    meshd_start $n '{"mesh": {"manage": false}}'
    check "$n: meshd answers" ctl $n version
    check_json "$n: meshd sees the batman-adv module" '.batman_adv_version == "2022.3"' ctl $n --json version
done

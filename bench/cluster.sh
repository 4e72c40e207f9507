#!/usr/bin/env bash
# Durable SET through the leader of a 3-node mutexredis cluster, against a
# single mutexredis (fsync always) and redis-server appendfsync always,
# driven by redis-benchmark on this machine. All three nodes share its
# cores, so the table also gives the servers' CPU per op (user+system of
# every server process, from /proc, over the run: lib.sh's cpu_ticks).
#
# Environment:
#   ROUNDS=3        rounds; the targets alternate within each round, the
#                   table shows medians
#   REQUESTS=50000  requests per run; CLIENTS=50; DATASIZE=100
#   PIPELINES="1 16"
#   MUTEXREDIS_BIN, MUTEXREDIS_REV, BENCH_TMPDIR, KEEP: as bench/compare.sh
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-50000}
CLIENTS=${CLIENTS:-50}
DATASIZE=${DATASIZE:-100}
PIPELINES=${PIPELINES:-1 16}

ensure_redis
setup_workdir
build_mutexredis

new_server single ours
start_server single
new_server redis redis-aof
start_server redis

# The cluster: nodes n1..n3, each with a client port and a Raft port.
declare -a NODE_PORT=() RAFT_PORT=()
peers=""
for i in 1 2 3; do
    # free_port runs in a subshell: record its ports in this shell.
    NODE_PORT[i]=$(free_port)
    USED_PORTS+="${NODE_PORT[i]} "
    RAFT_PORT[i]=$(free_port)
    USED_PORTS+="${RAFT_PORT[i]} "
    peers+="${peers:+,}n$i@127.0.0.1:${RAFT_PORT[i]}@127.0.0.1:${NODE_PORT[i]}"
done
for i in 1 2 3; do
    name=node$i
    SRV_KIND[$name]=ours
    SRV_DIR[$name]=$WORK/$name
    SRV_PORT[$name]=${NODE_PORT[i]}
    mkdir -p "${SRV_DIR[$name]}"
    "$BIN" --bind 127.0.0.1 --port "${NODE_PORT[i]}" --dir "${SRV_DIR[$name]}/data" \
        --node-id "n$i" --raft-addr "127.0.0.1:${RAFT_PORT[i]}" --raft-peers "$peers" \
        >>"$WORK/$name.log" 2>&1 &
    SRV_PID[$name]=$!
done
for i in 1 2 3; do wait_ping "node$i"; done
leader=""
deadline=$((SECONDS + 60))
while [[ -z $leader ]]; do
    for i in 1 2 3; do
        [[ $(redis-cli -p "${NODE_PORT[i]}" ROLE | head -1) == master ]] && leader=node$i
    done
    ((SECONDS < deadline)) || die "no cluster leader within 60s"
    [[ -n $leader ]] || sleep 0.05
done
log "cluster leader: $leader on port ${SRV_PORT[$leader]}"

declare -A RPS=() CPU=()
run() { # run TARGET PIPELINE ROUND
    local target=$1 p=$2 round=$3 port pids
    case $target in
    cluster) port=${SRV_PORT[$leader]} pids="${SRV_PID[node1]} ${SRV_PID[node2]} ${SRV_PID[node3]}" ;;
    single) port=${SRV_PORT[single]} pids=${SRV_PID[single]} ;;
    redis) port=${SRV_PORT[redis]} pids=${SRV_PID[redis]} ;;
    esac
    local before after out rps
    # shellcheck disable=SC2086
    before=$(cpu_ticks $pids)
    out=$(redis-benchmark -h 127.0.0.1 -p "$port" -t set -c "$CLIENTS" -n "$REQUESTS" -d "$DATASIZE" \
        -r 100000 -P "$p" --csv -q 2>/dev/null | tail -1)
    # shellcheck disable=SC2086
    after=$(cpu_ticks $pids)
    rps=$(echo "$out" | awk -F'","' '{gsub(/"/, "", $2); print int($2)}')
    RPS[$target,$p,$round]=$rps
    CPU[$target,$p,$round]=$(us_per_op $((after - before)) "$REQUESTS")
    log "round $round $target -P $p: $rps req/s, ${CPU[$target,$p,$round]} µs CPU/op"
}

TARGETS=(cluster single redis)
for ((r = 1; r <= ROUNDS; r++)); do
    for p in $PIPELINES; do
        for target in "${TARGETS[@]}"; do run "$target" "$p" "$r"; done
    done
done

echo
echo "SET, $CLIENTS clients, $DATASIZE-byte values, $REQUESTS requests, median of $ROUNDS rounds ($LOAD_BEFORE at start; shared machine)"
echo
echo "| target | pipeline | requests/s | server CPU µs/op |"
echo "|---|---|---|---|"
for p in $PIPELINES; do
    for target in "${TARGETS[@]}"; do
        rps=$(for ((r = 1; r <= ROUNDS; r++)); do echo "${RPS[$target,$p,$r]}"; done | median)
        cpu=$(for ((r = 1; r <= ROUNDS; r++)); do echo "${CPU[$target,$p,$r]}"; done | median)
        case $target in
        cluster) label="mutexredis, leader of 3 nodes (Raft)" ;;
        single) label="mutexredis, single node, fsync always" ;;
        redis) label="redis-server appendfsync always" ;;
        esac
        echo "| $label | $p | $rps | $cpu |"
    done
done

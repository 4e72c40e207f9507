#!/usr/bin/env bash
# Expiry benchmarks (make bench-expire), ours vs redis-server appendfsync always:
#  1. SET with EX vs plain SET (redis-benchmark, 50 clients, -P 1 and -P 16);
#  2. N keys (default 1M) all due at the same second: how long until the
#     server has deleted them all (INFO expired_keys), and the GET throughput
#     of other traffic meanwhile.
# Environment: EXPIRE_KEYS=1000000 REQUESTS=100000 KEEP=1 (see lib.sh).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXPIRE_KEYS=${EXPIRE_KEYS:-1000000}
REQUESTS=${REQUESTS:-100000}
SERVERS=(ours redis-aof)

rps() { # rps NAME PIPELINE ARGS...: redis-benchmark throughput
    local name=$1 p=$2
    shift 2
    redis-benchmark -h 127.0.0.1 -p "${SRV_PORT[$name]}" -c 50 -d 100 -r 100000 -P "$p" -n "$REQUESTS" --csv "$@" |
        tail -n 1 | tr -d '"' | awk -F, '{printf "%.0f", $2}'
}

expired_keys() { redis-cli -h 127.0.0.1 -p "${SRV_PORT[$1]}" INFO stats | tr -d '\r' | awk -F: '/^expired_keys:/ {print $2}'; }

mass_expiry() { # mass_expiry NAME: prints "seconds-to-delete-all get-rps-meanwhile"
    local name=$1 due
    due=$(( $(date +%s) + 20 ))
    awk -v n="$EXPIRE_KEYS" -v at="$due" 'BEGIN {for (i = 0; i < n; i++) {k = sprintf("exp:%012d", i)
        printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n$4\r\nEXAT\r\n$%d\r\n%s\r\n", length(k), k, length(at), at}}' >"$WORK/expire.resp"
    redis-cli -h 127.0.0.1 -p "${SRV_PORT[$name]}" --pipe <"$WORK/expire.resp" >/dev/null
    local before
    before=$(expired_keys "$name")
    while (( $(date +%s) < due )); do sleep 0.05; done
    local start=$EPOCHREALTIME
    rps "$name" 1 -t get >"$WORK/get-during.txt" &
    local bench=$!
    # Redis's active expiry stops sampling once few of the keys with a TTL
    # are due (the SET EX keys above are not), so it may never get them
    # all: give up after 120 s and say how many were deleted.
    local deadline=$((SECONDS + 120)) done=0
    while done=$(( $(expired_keys "$name") - before )); (( done < EXPIRE_KEYS && SECONDS < deadline )); do sleep 0.05; done
    local took
    took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
    (( done >= EXPIRE_KEYS )) || took="${took}(${done}-deleted)"
    wait "$bench"
    echo "$took $(cat "$WORK/get-during.txt")"
}

main() {
    ensure_redis
    setup_workdir
    build_mutexredis
    declare -A SET1 SET16 SETEX1 SETEX16 MASS
    for name in "${SERVERS[@]}"; do
        new_server "$name" "$name"
        start_server "$name"
        # Both in redis-benchmark's arbitrary-command form: -t set is
        # faster at -P 1 than the same SET sent as a command (for Redis too).
        SET1[$name]=$(rps "$name" 1 SET key:__rand_int__ vvvvvvvvvv)
        SETEX1[$name]=$(rps "$name" 1 SET key:__rand_int__ vvvvvvvvvv EX 3600)
        SET16[$name]=$(rps "$name" 16 SET key:__rand_int__ vvvvvvvvvv)
        SETEX16[$name]=$(rps "$name" 16 SET key:__rand_int__ vvvvvvvvvv EX 3600)
        log "$name: SET ${SET1[$name]}/${SET16[$name]} rps, SET EX ${SETEX1[$name]}/${SETEX16[$name]} rps (-P 1/-P 16)"
        MASS[$name]=$(mass_expiry "$name")
        log "$name: $EXPIRE_KEYS keys due at once deleted in ${MASS[$name]% *} s; GET -P 1 meanwhile ${MASS[$name]#* } rps"
        stop_server "$name"
    done
    mkdir -p "$RESULTS_DIR"
    local out
    out=$RESULTS_DIR/expire-$(date +%Y%m%d-%H%M%S).txt
    {
        echo "expiry: SET vs SET EX (rps), and $EXPIRE_KEYS keys due at the same second"
        describe_machine
        printf '%-10s %10s %10s %12s %12s %14s %14s\n' server "SET -P1" "SET EX -P1" "SET -P16" "SET EX -P16" "mass delete s" "GET rps during"
        for name in "${SERVERS[@]}"; do
            printf '%-10s %10s %10s %12s %12s %14s %14s\n' "$name" "${SET1[$name]}" "${SETEX1[$name]}" "${SET16[$name]}" \
                "${SETEX16[$name]}" "${MASS[$name]% *}" "${MASS[$name]#* }"
        done
    } | tee "$out"
}
main "$@"

#!/usr/bin/env bash
# Side-by-side throughput/latency benchmark: mutexredis (fsync always) vs
# redis-server with appendfsync always vs redis-server without persistence,
# all driven by redis-benchmark. See bench/README.md.
#
# Environment:
#   ROUNDS=3          rounds; the servers alternate within each round and the
#                     table shows the median of the rounds for every cell
#   REQUESTS=N        requests per test (-n) at both pipeline depths
#                     (default: 100000 at -P 1, 200000 at -P 16)
#   REQUESTS_P1, REQUESTS_P16   the same, per pipeline depth
#   CLIENTS=50 DATASIZE=100 KEYSPACE=100000 PIPELINES="1 16"
#   QUICK=1           smoke test: 1 round, 2000/10000 requests
#   MUTEXREDIS_REV    build this commit (git archive into the temp dir) instead
#                     of the work tree
#   MUTEXREDIS_BIN    use this binary instead of building bin/mutexredis
#   BENCH_TMPDIR      where the servers' dirs go (must be a real disk)
#   KEEP=1            keep the temp dir (server logs, raw CSV) afterwards
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${QUICK:-0} == 1 ]]; then
    ROUNDS=${ROUNDS:-1}
    REQUESTS_P1=${REQUESTS_P1:-${REQUESTS:-2000}}
    REQUESTS_P16=${REQUESTS_P16:-${REQUESTS:-10000}}
fi
ROUNDS=${ROUNDS:-3}
REQUESTS_P1=${REQUESTS_P1:-${REQUESTS:-100000}}
REQUESTS_P16=${REQUESTS_P16:-${REQUESTS:-200000}}
CLIENTS=${CLIENTS:-50}
DATASIZE=${DATASIZE:-100}
KEYSPACE=${KEYSPACE:-100000}
PIPELINES=${PIPELINES:-1 16}

SERVERS=(ours redis-aof redis-nopersist)
# The EVALSHA test's script: a read-modify-write of two commands, loaded into
# every server (SCRIPT LOAD) before the rounds.
EVAL_SCRIPT="redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"
EVAL_SHA=$(printf %s "$EVAL_SCRIPT" | sha1sum | cut -d' ' -f1)
# Tests as "label|redis-benchmark arguments". SET, GET, LPUSH, RPOP and LRANGE_100 are redis-benchmark's
# own tests (-t); the others are mutexredis commands sent in arbitrary-command
# mode, against ours only; "both:" marks an arbitrary command that Redis has
# too (HGET, SISMEMBER), run against every server. __rand_int__ is replaced
# by a random number below KEYSPACE, giving the same key names as the SET
# test writes (key:%012d) and the same fields and members as the HSET and
# SADD tests (element:%012d in myhash and myset); ZRANGE reads the set
# the ZADD test fills (myzset).
TESTS=(
    "SET|-t set"
    "GET|-t get"
    "PEEKFIRST|PEEKFIRST"
    "PEEKFIRST [rand +|PEEKFIRST [key:__rand_int__ +"
    "AFTERWRITE|AFTERWRITE"
    "EVALSHA set+get|both:EVALSHA $EVAL_SHA 1 key:__rand_int__ __rand_int__"
    "LPUSH|-t lpush"
    "RPOP|-t rpop"
    "LRANGE_100|-t lrange_100"
    "HSET|-t hset"
    "HGET|both:HGET myhash element:__rand_int__"
    "SADD|-t sadd"
    "SISMEMBER|both:SISMEMBER myset element:__rand_int__"
    "ZADD|-t zadd"
    "ZRANGE 0 9|both:ZRANGE myzset 0 9"
)

RAW="" # per-round results: server round test pipeline rps p50 p99 (tab separated)

requests_for() { if [[ $1 == 1 ]]; then echo "$REQUESTS_P1"; else echo "$REQUESTS_P16"; fi; }

# run_one SERVER ROUND LABEL PIPELINE ARGS...: one redis-benchmark run,
# appending "server round label pipeline rps p50 p99" to $RAW.
run_one() {
    local name=$1 round=$2 label=$3 pipeline=$4
    shift 4
    local n csv
    n=$(requests_for "$pipeline")
    # redis-benchmark 7.0 --csv prints a header, then one line per test:
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    csv=$(redis-benchmark -h 127.0.0.1 -p "${SRV_PORT[$name]}" -c "$CLIENTS" -d "$DATASIZE" \
        -r "$KEYSPACE" -P "$pipeline" -n "$n" --csv "$@" 2>"$WORK/bench.err") ||
        die "redis-benchmark failed against $name ($label, -P $pipeline): $(cat "$WORK/bench.err")"
    echo "$csv" >>"$WORK/raw.csv"
    local line
    line=$(echo "$csv" | tail -n +2 | tail -n 1)
    [[ -n $line ]] || die "redis-benchmark printed no result against $name ($label, -P $pipeline): $(cat "$WORK/bench.err")"
    if [[ -s $WORK/bench.err ]] && grep -qi error "$WORK/bench.err"; then
        die "$name answered errors ($label, -P $pipeline): $(head -n 3 "$WORK/bench.err")"
    fi
    # Fields are quoted and contain no commas; drop the quotes and split.
    echo "$line" | tr -d '"' | awk -F, -v s="$name" -v r="$round" -v t="$label" -v p="$pipeline" \
        'BEGIN {OFS="\t"} {print s, r, t, p, $2, $5, $7}' >>"$RAW"
    log "  $name round $round: $label -P $pipeline: $(echo "$line" | tr -d '"' | awk -F, '{printf "%.0f rps, p50 %s ms, p99 %s ms", $2, $5, $7}')"
}

# run_suite SERVER ROUND: every test at every pipeline depth against one server.
run_suite() {
    local name=$1 round=$2 pipeline test label args
    for pipeline in $PIPELINES; do
        for test in "${TESTS[@]}"; do
            label=${test%%|*}
            args=${test#*|}
            # Arbitrary commands (not -t tests) are mutexredis's own, ours
            # only, unless marked both:.
            if [[ ${SRV_KIND[$name]} != ours && $args != -t* && $args != both:* ]]; then continue; fi
            args=${args#both:}
            # shellcheck disable=SC2086 # args is a word list on purpose
            run_one "$name" "$round" "$label" "$pipeline" $args
        done
    done
}

# cell SERVER LABEL PIPELINE FIELD: the median over rounds of one column of
# $RAW (FIELD 5 = rps, 6 = p50, 7 = p99), or nothing.
cell() {
    awk -F'\t' -v s="$1" -v t="$2" -v p="$3" -v f="$4" '$1 == s && $3 == t && $4 == p {print $f}' "$RAW" |
        median 2>/dev/null || true
}

# print_table: the median table, one line per test and pipeline depth.
print_table() {
    local fmt="%-17s %3s | %9s %7s %7s | %9s %7s %7s | %9s %7s %7s | %8s %8s\n"
    printf "%-21s | %-25s | %-25s | %-25s | %s\n" "" "ours (fsync always)" "redis-aof (fsync always)" \
        "redis-nopersist" "rps ratio"
    # shellcheck disable=SC2059
    printf "$fmt" test P rps p50 p99 rps p50 p99 rps p50 p99 ours/aof ours/nop
    printf '%s\n' "$(printf '%.0s-' {1..130})"
    local pipeline test label name rps p50 p99 cells ours_rps ratio
    for test in "${TESTS[@]}"; do
        label=${test%%|*}
        for pipeline in $PIPELINES; do
            cells=()
            ours_rps=""
            for name in "${SERVERS[@]}"; do
                rps=$(cell "$name" "$label" "$pipeline" 5)
                if [[ -z $rps ]]; then
                    cells+=(n/a n/a n/a)
                    continue
                fi
                p50=$(cell "$name" "$label" "$pipeline" 6)
                p99=$(cell "$name" "$label" "$pipeline" 7)
                cells+=("$(printf %.0f "$rps")" "$(printf %.3f "$p50")" "$(printf %.3f "$p99")")
                [[ $name == ours ]] && ours_rps=$rps
            done
            for name in redis-aof redis-nopersist; do
                rps=$(cell "$name" "$label" "$pipeline" 5)
                if [[ -n $ours_rps && -n $rps ]]; then
                    ratio=$(awk -v a="$ours_rps" -v b="$rps" 'BEGIN {printf "%.2fx", a / b}')
                else
                    ratio=n/a
                fi
                cells+=("$ratio")
            done
            # shellcheck disable=SC2059
            printf "$fmt" "$label" "$pipeline" "${cells[@]}"
        done
    done
}

main() {
    ensure_redis
    setup_workdir
    build_mutexredis
    RAW=$WORK/raw.tsv
    : >"$RAW"

    local name
    new_server ours ours
    new_server redis-aof redis-aof
    new_server redis-nopersist redis-nopersist
    for name in "${SERVERS[@]}"; do start_server "$name"; done

    # Preload every key of the keyspace, so that GET and PEEKFIRST hit
    # existing keys from the first round on and all servers start equal.
    log "preloading $KEYSPACE keys of $DATASIZE bytes into each server"
    gen_set_commands "$KEYSPACE" "$WORK/preload.resp" "$DATASIZE"
    for name in "${SERVERS[@]}"; do load_keys "$name" "$WORK/preload.resp" "$KEYSPACE"; done
    for name in "${SERVERS[@]}"; do
        [[ $(redis-cli -h 127.0.0.1 -p "${SRV_PORT[$name]}" SCRIPT LOAD "$EVAL_SCRIPT") == "$EVAL_SHA" ]] ||
            die "SCRIPT LOAD into $name did not answer $EVAL_SHA"
    done

    log "$ROUNDS round(s); -c $CLIENTS -d $DATASIZE -r $KEYSPACE; -n $REQUESTS_P1 at -P 1, $REQUESTS_P16 at -P 16"
    local started=$SECONDS round i order
    for ((round = 1; round <= ROUNDS; round++)); do
        # Rotate the order each round so no server always runs first.
        order=()
        for ((i = 0; i < ${#SERVERS[@]}; i++)); do
            order+=("${SERVERS[(i + round - 1) % ${#SERVERS[@]}]}")
        done
        log "round $round/$ROUNDS: ${order[*]}"
        for name in "${order[@]}"; do run_suite "$name" "$round"; done
    done
    local elapsed=$((SECONDS - started))

    mkdir -p "$RESULTS_DIR"
    local out
    out=$RESULTS_DIR/compare-$(date +%Y%m%d-%H%M%S).txt
    {
        echo "mutexredis vs redis: redis-benchmark, median of $ROUNDS round(s)"
        describe_machine
        echo "load:       -c $CLIENTS -d $DATASIZE -r $KEYSPACE, -n $REQUESTS_P1 at -P 1 and $REQUESTS_P16 at -P 16; ${elapsed}s of benchmarking"
        echo "servers:    ours = mutexredis --fsync always"
        echo "            redis-aof = redis-server --appendonly yes --appendfsync always --save \"\""
        echo "            redis-nopersist = redis-server --appendonly no --save \"\""
        echo "note:       redis-benchmark runs on the same $(nproc)-core machine and competes with the server for CPU."
        echo "            rps = requests/s, p50/p99 = latency in ms; ratios are of rps (>1: ours is faster)."
        echo "            PEEKFIRST, PEEKFIRST [rand + (PEEKFIRST [key:<random> +) and AFTERWRITE are mutexredis"
        echo "            commands: n/a for redis. EVALSHA set+get runs a script of SET then GET of a random key."
        echo
        print_table
        echo
        echo "raw results (server, round, test, pipeline, rps, p50 ms, p99 ms):"
        cat "$RAW"
    } | tee "$out"
    log "saved $out"
}

main "$@"

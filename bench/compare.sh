#!/usr/bin/env bash
# Side-by-side benchmark: mutexredis (fsync always) vs redis-server with
# appendfsync always vs redis-server without persistence, all driven by
# redis-benchmark, with the servers' CPU time per request. See
# bench/README.md. Three sections, one table each, in one results file:
#   single     every test, one keyspace (db 0), against all three servers
#   keyspaces  SET and GET over DBS keyspaces at once: one redis-benchmark
#              per db (--dbnum), the clients split among them, rps summed;
#              ours vs redis-aof
#   sweep      ours alone, started with GOMAXPROCS=1, 2, … nproc: SET and
#              GET in one keyspace and over DBS keyspaces
#
# Environment:
#   SECTIONS="single keyspaces sweep"   the sections to run (default: all)
#   ROUNDS=3          rounds; the servers alternate within each round and the
#                     table shows the median of the rounds for every cell
#   REQUESTS=N        requests per test (-n) at both pipeline depths; in the
#                     keyspaces runs, the total over the DBS redis-benchmarks
#                     (default: 100000 at -P 1, 200000 at -P 16)
#   REQUESTS_P1, REQUESTS_P16   the same, per pipeline depth
#   CLIENTS=50 DATASIZE=100 KEYSPACE=100000 PIPELINES="1 16"
#                     redis-benchmark's -c (in the keyspaces runs, the total),
#                     -d, -r (single keyspace) and the -P values
#   DBS=16            keyspaces (databases, SELECT 0..DBS-1) of the keyspaces
#                     runs; the servers get --databases max(16, DBS)
#   DB_KEYS=N         keys per keyspace there (-r; default KEYSPACE / DBS, so
#                     the data is as large in all as in the single keyspace)
#   SWEEP_PROCS="1 2" the sweep's GOMAXPROCS values (default: 1, 2, 4, …
#                     below nproc, then nproc)
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
SECTIONS=${SECTIONS:-single keyspaces sweep}
DBS=${DBS:-16}
DB_KEYS=${DB_KEYS:-$((KEYSPACE / DBS))}
DATABASES=$((DBS > 16 ? DBS : 16))
default_sweep_procs() {
    local n p=1 out=""
    n=$(nproc)
    while ((p < n)); do
        out+="$p "
        p=$((p * 2))
    done
    echo "$out$n"
}
SWEEP_PROCS=${SWEEP_PROCS:-$(default_sweep_procs)}

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


ALL_SECTIONS=(single keyspaces sweep) # the order they run in
RAW="" # per-round results, tab separated: section server round test pipeline rps p50 p99 cpu
declare -A SRV_LOADED=()  # NAME -> the preloads done ("single", "keyspaces")
declare -A SECTION_SECONDS=()
RESULT_LINE="" # set by bench_result

positive() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1)); }
has_section() { [[ " $SECTIONS " == *" $1 "* ]]; }

check_settings() {
    local s p
    for s in $SECTIONS; do
        [[ " ${ALL_SECTIONS[*]} " == *" $s "* ]] || die "SECTIONS: unknown section $s (known: ${ALL_SECTIONS[*]})"
    done
    [[ -n ${SECTIONS// /} ]] || die "SECTIONS is empty"
    positive "$DBS" || die "DBS=$DBS: want a number ≥ 1"
    positive "$DB_KEYS" || die "DB_KEYS=$DB_KEYS: want a number ≥ 1"
    if has_section keyspaces || has_section sweep; then
        ((CLIENTS >= DBS)) || die "CLIENTS=$CLIENTS is below DBS=$DBS: every keyspace needs a client"
        ((REQUESTS_P1 >= DBS && REQUESTS_P16 >= DBS)) || die "fewer requests than DBS=$DBS keyspaces"
    fi
    for p in $SWEEP_PROCS; do
        positive "$p" || die "SWEEP_PROCS: $p is not a number ≥ 1"
    done
}

requests_for() { if [[ $1 == 1 ]]; then echo "$REQUESTS_P1"; else echo "$REQUESTS_P16"; fi; }

# bench_cmd NAME PIPELINE REQUESTS CLIENTS KEYS DB ARGS...: sets BENCH_CMD
# to the redis-benchmark command line of one run against a server, in
# database DB. Run as "${BENCH_CMD[@]}" (in the background too: then $! is
# redis-benchmark's own pid, which cleanup can kill).
BENCH_CMD=()
bench_cmd() {
    local name=$1 pipeline=$2 n=$3 clients=$4 keys=$5 db=$6
    shift 6
    BENCH_CMD=(redis-benchmark -h 127.0.0.1 -p "${SRV_PORT[$name]}" -c "$clients" -d "$DATASIZE"
        -r "$keys" -P "$pipeline" -n "$n" --dbnum "$db" --csv "$@")
}

# bench_result OUT WHAT: checks the output of a redis-benchmark run (its
# CSV in OUT.csv, its stderr in OUT.err) and sets
# RESULT_LINE to its result, unquoted: test,rps,avg,min,p50,p95,p99,max
# (latencies in ms, redis-benchmark 7's --csv). Dies, naming WHAT, when the
# run printed no result or the server answered errors. Appends the CSV to
# $WORK/raw.csv.
bench_result() {
    local out=$1 what=$2
    RESULT_LINE=$(tail -n +2 "$out.csv" | tail -n 1 | tr -d '"')
    [[ -n $RESULT_LINE ]] || die "redis-benchmark printed no result against $what: $(cat "$out.err")"
    if [[ -s $out.err ]] && grep -qi error "$out.err"; then
        die "$what: the server answered errors: $(head -n 3 "$out.err")"
    fi
    cat "$out.csv" >>"$WORK/raw.csv"
}

# run_one SECTION SERVER ROUND LABEL PIPELINE ARGS...: one redis-benchmark
# run in db 0, with the server's CPU time around it; appends
# "section server round label pipeline rps p50 p99 cpu" to $RAW.
run_one() {
    local section=$1 name=$2 round=$3 label=$4 pipeline=$5
    shift 5
    local n before after cpu what="$name ($label, -P $pipeline)"
    n=$(requests_for "$pipeline")
    before=$(cpu_ticks "${SRV_PID[$name]}")
    bench_cmd "$name" "$pipeline" "$n" "$CLIENTS" "$KEYSPACE" 0 "$@"
    "${BENCH_CMD[@]}" >"$WORK/bench.csv" 2>"$WORK/bench.err" ||
        die "redis-benchmark failed against $what: $(cat "$WORK/bench.err")"
    after=$(cpu_ticks "${SRV_PID[$name]}")
    bench_result "$WORK/bench" "$what"
    cpu=$(us_per_op $((after - before)) "$n")
    # Fields contain no commas.
    echo "$RESULT_LINE" | awk -F, -v x="$section" -v s="$name" -v r="$round" -v t="$label" -v p="$pipeline" \
        -v c="$cpu" 'BEGIN {OFS="\t"} {print x, s, r, t, p, $2, $5, $7, c}' >>"$RAW"
    log "  $name round $round: $label -P $pipeline: $(echo "$RESULT_LINE" |
        awk -F, -v c="$cpu" '{printf "%.0f rps, p50 %s ms, p99 %s ms, %s µs CPU/op", $2, $5, $7, c}')"
}

# run_many SECTION SERVER ROUND LABEL PIPELINE ARGS...: DBS redis-benchmark
# runs at once, one per db 0..DBS-1 (--dbnum, -r DB_KEYS), CLIENTS and the
# requests split among them as evenly as they go; the server's CPU time is
# taken around the whole group. Appends "section server round label
# pipeline rps - - cpu" to $RAW, rps being the sum of the runs' rps.
run_many() {
    local section=$1 name=$2 round=$3 label=$4 pipeline=$5
    shift 5
    local n before after cpu i clients reqs pids=() failed="" rps=0 what
    n=$(requests_for "$pipeline")
    before=$(cpu_ticks "${SRV_PID[$name]}")
    for ((i = 0; i < DBS; i++)); do
        clients=$((CLIENTS / DBS + (i < CLIENTS % DBS ? 1 : 0)))
        reqs=$((n / DBS + (i < n % DBS ? 1 : 0)))
        bench_cmd "$name" "$pipeline" "$reqs" "$clients" "$DB_KEYS" "$i" "$@"
        "${BENCH_CMD[@]}" >"$WORK/many.$i.csv" 2>"$WORK/many.$i.err" &
        pids+=("$!")
        BG_PIDS=("${pids[@]}")
    done
    for ((i = 0; i < DBS; i++)); do
        wait "${pids[i]}" || failed+=" $i"
    done
    BG_PIDS=()
    after=$(cpu_ticks "${SRV_PID[$name]}")
    what="$name ($label over $DBS dbs, -P $pipeline)"
    if [[ -n $failed ]]; then
        i=${failed# }
        i=${i%% *}
        die "redis-benchmark failed against $what, in db$failed: $(cat "$WORK/many.$i.err")"
    fi
    for ((i = 0; i < DBS; i++)); do
        bench_result "$WORK/many.$i" "$what, db $i"
        rps=$(echo "$RESULT_LINE" | awk -F, -v sum="$rps" '{printf "%.2f", sum + $2}')
    done
    cpu=$(us_per_op $((after - before)) "$n")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t-\t-\t%s\n' "$section" "$name" "$round" "$label" "$pipeline" "$rps" "$cpu" >>"$RAW"
    log "  $name round $round: $label -P $pipeline over $DBS dbs: $(printf %.0f "$rps") rps, $cpu µs CPU/op"
}

# use_server NAME KIND [GOMAXPROCS]: starts the server unless it runs.
use_server() {
    local name=$1 kind=$2
    [[ -n ${SRV_PID[$name]:-} ]] && return
    new_server "$name" "$kind"
    if [[ -n ${3:-} ]]; then SRV_GOMAXPROCS[$name]=$3; fi
    start_server "$name"
    if [[ -n ${3:-} ]]; then
        tr '\0' '\n' <"/proc/${SRV_PID[$name]}/environ" | grep -qx "GOMAXPROCS=$3" ||
            die "$name does not run with GOMAXPROCS=$3"
    fi
}

# preload NAME single|keyspaces: writes every key the tests read, once per
# server: KEYSPACE keys into db 0 for single, DB_KEYS into each of the DBS
# dbs for keyspaces, so that GET hits existing keys from the first round on
# and all servers start equal.
preload() {
    local name=$1 what=$2 db
    [[ " ${SRV_LOADED[$name]:-} " == *" $what "* ]] && return
    case $what in
    single)
        [[ -s $WORK/preload.resp ]] || gen_set_commands "$KEYSPACE" "$WORK/preload.resp" "$DATASIZE"
        log "preloading $KEYSPACE keys of $DATASIZE bytes into $name"
        load_keys "$name" "$WORK/preload.resp" "$KEYSPACE"
        (($(dbsize "$name") >= KEYSPACE)) || die "$name: DBSIZE $(dbsize "$name") after loading $KEYSPACE keys"
        ;;
    keyspaces)
        [[ -s $WORK/preload-db.resp ]] || gen_set_commands "$DB_KEYS" "$WORK/preload-db.resp" "$DATASIZE"
        log "preloading $DB_KEYS keys of $DATASIZE bytes into each of $DBS dbs of $name"
        for ((db = 0; db < DBS; db++)); do
            load_keys "$name" "$WORK/preload-db.resp" "$DB_KEYS" "$db"
            (($(dbsize "$name" "$db") >= DB_KEYS)) || die "$name: DBSIZE $(dbsize "$name" "$db") in db $db after loading $DB_KEYS keys"
        done
        ;;
    esac
    SRV_LOADED[$name]+=" $what"
}

# rotated ROUND NAME...: the names, rotated by ROUND-1, so that no server
# always runs first.
rotated() {
    local round=$1
    shift
    local names=("$@") i
    for ((i = 0; i < ${#names[@]}; i++)); do
        echo "${names[(i + round - 1) % ${#names[@]}]}"
    done
}

# run_suite SERVER ROUND: the single section's tests at every pipeline depth
# against one server.
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
            run_one single "$name" "$round" "$label" "$pipeline" $args
        done
    done
}

section_single() {
    local name round order
    for name in "${SERVERS[@]}"; do use_server "$name" "$name"; done
    for name in "${SERVERS[@]}"; do preload "$name" single; done
    for name in "${SERVERS[@]}"; do
        [[ $(redis-cli -h 127.0.0.1 -p "${SRV_PORT[$name]}" SCRIPT LOAD "$EVAL_SCRIPT") == "$EVAL_SHA" ]] ||
            die "SCRIPT LOAD into $name did not answer $EVAL_SHA"
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        mapfile -t order < <(rotated "$round" "${SERVERS[@]}")
        log "single, round $round/$ROUNDS: ${order[*]}"
        for name in "${order[@]}"; do run_suite "$name" "$round"; done
    done
}

KS_SERVERS=(ours redis-aof)
section_keyspaces() {
    local name round pipeline t order
    for name in "${KS_SERVERS[@]}"; do use_server "$name" "$name"; done
    for name in "${KS_SERVERS[@]}"; do preload "$name" keyspaces; done
    for ((round = 1; round <= ROUNDS; round++)); do
        mapfile -t order < <(rotated "$round" "${KS_SERVERS[@]}")
        log "keyspaces, round $round/$ROUNDS: ${order[*]}"
        for name in "${order[@]}"; do
            for pipeline in $PIPELINES; do
                for t in SET GET; do run_many keyspaces "$name" "$round" "$t" "$pipeline" -t "${t,,}"; done
            done
        done
    done
}

sweep_servers() { local p; for p in $SWEEP_PROCS; do echo "ours-gomaxprocs$p"; done; }
section_sweep() {
    local name round pipeline t p names order
    mapfile -t names < <(sweep_servers)
    for p in $SWEEP_PROCS; do use_server "ours-gomaxprocs$p" ours "$p"; done
    for name in "${names[@]}"; do
        preload "$name" single
        preload "$name" keyspaces
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        mapfile -t order < <(rotated "$round" "${names[@]}")
        log "sweep, round $round/$ROUNDS: ${order[*]}"
        for name in "${order[@]}"; do
            for pipeline in $PIPELINES; do
                for t in SET GET; do run_one sweep "$name" "$round" "$t, 1 keyspace" "$pipeline" -t "${t,,}"; done
                for t in SET GET; do run_many sweep "$name" "$round" "$t, $DBS keyspaces" "$pipeline" -t "${t,,}"; done
            done
        done
    done
}

# servers_of SECTION: the servers a section uses.
servers_of() {
    case $1 in
    single) echo "${SERVERS[@]}" ;;
    keyspaces) echo "${KS_SERVERS[@]}" ;;
    sweep) sweep_servers ;;
    esac
}

# stop_unneeded LATER...: stops the running servers that none of the
# sections LATER use, so that idle servers don't sit through them.
stop_unneeded() {
    local keep=" " s name
    for s in "$@"; do keep+="$(servers_of "$s" | tr '\n' ' ') "; done
    for name in "${!SRV_PID[@]}"; do
        [[ $keep == *" $name "* ]] || stop_server "$name"
    done
}

# cell SECTION SERVER LABEL PIPELINE FIELD: the median over rounds of one
# column of $RAW (FIELD 6 = rps, 7 = p50, 8 = p99, 9 = CPU µs/op), or nothing.
cell() {
    awk -F'\t' -v x="$1" -v s="$2" -v t="$3" -v p="$4" -v f="$5" \
        '$1 == x && $2 == s && $4 == t && $5 == p && $f != "-" {print $f}' "$RAW" |
        median 2>/dev/null || true
}

# ratio A B: A/B as "1.23x", or n/a when either is missing.
ratio() {
    if [[ -n $1 && -n $2 ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2fx\n", a / b}'
    else
        echo n/a
    fi
}

# fmt0 / fmt1 / fmt3 X: X with 0, 1 or 3 decimals, or n/a when empty.
fmt0() { if [[ -n $1 ]]; then printf %.0f "$1"; else echo n/a; fi; }
fmt1() { if [[ -n $1 ]]; then printf %.1f "$1"; else echo n/a; fi; }
fmt3() { if [[ -n $1 ]]; then printf %.3f "$1"; else echo n/a; fi; }

rule() { printf '%s\n' "$(printf "%.0s-" $(seq 1 "$1"))"; }

# print_single: the single section's median table, one line per test and
# pipeline depth.
print_single() {
    local fmt="%-17s %3s | %8s %7s %7s %6s | %8s %7s %7s %6s | %8s %7s %7s %6s | %8s %8s | %8s\n"
    printf "%-21s | %-31s | %-31s | %-31s | %-17s | %s\n" "" "ours (fsync always)" "redis-aof (fsync always)" \
        "redis-nopersist" "rps ratio" "cpu ratio"
    # shellcheck disable=SC2059
    printf "$fmt" test P rps p50 p99 cpu/op rps p50 p99 cpu/op rps p50 p99 cpu/op ours/aof ours/nop ours/aof
    rule 154
    local pipeline test label name cells rps
    local -A r=() c=()
    for test in "${TESTS[@]}"; do
        label=${test%%|*}
        for pipeline in $PIPELINES; do
            cells=()
            for name in "${SERVERS[@]}"; do
                rps=$(cell single "$name" "$label" "$pipeline" 6)
                r[$name]=$rps
                c[$name]=$(cell single "$name" "$label" "$pipeline" 9)
                if [[ -z $rps ]]; then
                    cells+=(n/a n/a n/a n/a)
                    continue
                fi
                cells+=("$(fmt0 "$rps")" "$(fmt3 "$(cell single "$name" "$label" "$pipeline" 7)")"
                    "$(fmt3 "$(cell single "$name" "$label" "$pipeline" 8)")" "$(fmt1 "${c[$name]}")")
            done
            cells+=("$(ratio "${r[ours]}" "${r[redis-aof]}")" "$(ratio "${r[ours]}" "${r[redis-nopersist]}")"
                "$(ratio "${c[ours]}" "${c[redis-aof]}")")
            # shellcheck disable=SC2059
            printf "$fmt" "$label" "$pipeline" "${cells[@]}"
        done
    done
}

# print_keyspaces: the keyspaces section's table.
print_keyspaces() {
    local fmt="%-5s %3s | %9s %7s | %9s %7s | %8s | %8s\n"
    printf "%-9s | %-17s | %-17s | %-8s | %s\n" "" "ours" "redis-aof" "rps" "cpu"
    # shellcheck disable=SC2059
    printf "$fmt" test P rps cpu/op rps cpu/op ours/aof ours/aof
    rule 72
    local pipeline t name cells
    local -A r=() c=()
    for t in SET GET; do
        for pipeline in $PIPELINES; do
            cells=()
            for name in "${KS_SERVERS[@]}"; do
                r[$name]=$(cell keyspaces "$name" "$t" "$pipeline" 6)
                c[$name]=$(cell keyspaces "$name" "$t" "$pipeline" 9)
                cells+=("$(fmt0 "${r[$name]}")" "$(fmt1 "${c[$name]}")")
            done
            cells+=("$(ratio "${r[ours]}" "${r[redis-aof]}")" "$(ratio "${c[ours]}" "${c[redis-aof]}")")
            # shellcheck disable=SC2059
            printf "$fmt" "$t" "$pipeline" "${cells[@]}"
        done
    done
}

# print_sweep: the sweep's table: a column pair per GOMAXPROCS value, and
# the rps ratio of the last value to the first.
print_sweep() {
    local names p first last line label pipeline t k name rps
    mapfile -t names < <(sweep_servers)
    first=${names[0]}
    last=${names[${#names[@]} - 1]}
    line=$(printf "%-21s" "")
    for p in $SWEEP_PROCS; do line+=$(printf " | %-17s" "GOMAXPROCS=$p"); done
    echo "$line | rps ratio"
    line=$(printf "%-17s %3s" test P)
    for p in $SWEEP_PROCS; do line+=$(printf " | %9s %7s" rps cpu/op); done
    echo "$line | $(printf %9s "${last#ours-gomaxprocs}/${first#ours-gomaxprocs}")"
    rule $((21 + 20 * ${#names[@]} + 12))
    for k in "1 keyspace" "$DBS keyspaces"; do
        for t in SET GET; do
            label="$t, $k"
            for pipeline in $PIPELINES; do
                line=$(printf "%-17s %3s" "$label" "$pipeline")
                for name in "${names[@]}"; do
                    line+=$(printf " | %9s %7s" "$(fmt0 "$(cell sweep "$name" "$label" "$pipeline" 6)")" \
                        "$(fmt1 "$(cell sweep "$name" "$label" "$pipeline" 9)")")
                done
                rps=$(ratio "$(cell sweep "$last" "$label" "$pipeline" 6)" "$(cell sweep "$first" "$label" "$pipeline" 6)")
                echo "$line | $(printf %9s "$rps")"
            done
        done
    done
}

# print_raw SECTION: the section's per-round rows.
print_raw() {
    awk -F'\t' -v x="$1" 'BEGIN {OFS="\t"} $1 == x {$1 = ""; sub(/^\t/, ""); print}' "$RAW"
}

main() {
    check_settings
    ensure_redis
    setup_workdir
    build_mutexredis
    RAW=$WORK/raw.tsv
    : >"$RAW"

    log "sections: $SECTIONS; $ROUNDS round(s); -c $CLIENTS -d $DATASIZE -r $KEYSPACE; -n $REQUESTS_P1 at -P 1, $REQUESTS_P16 at -P 16"
    local s i started
    for ((i = 0; i < ${#ALL_SECTIONS[@]}; i++)); do
        s=${ALL_SECTIONS[i]}
        has_section "$s" || continue
        started=$SECONDS
        log "section $s"
        "section_$s"
        SECTION_SECONDS[$s]=$((SECONDS - started))
        local later=()
        for s in "${ALL_SECTIONS[@]:i+1}"; do has_section "$s" && later+=("$s"); done
        stop_unneeded "${later[@]}"
    done

    mkdir -p "$RESULTS_DIR"
    local out times=""
    out=$RESULTS_DIR/compare-$(date +%Y%m%d-%H%M%S).txt
    for s in "${ALL_SECTIONS[@]}"; do
        [[ -n ${SECTION_SECONDS[$s]:-} ]] && times+="${times:+, }$s ${SECTION_SECONDS[$s]}s"
    done
    {
        echo "mutexredis vs redis: redis-benchmark, median of $ROUNDS round(s)"
        describe_machine
        echo "load:       -c $CLIENTS -d $DATASIZE -r $KEYSPACE, -n $REQUESTS_P1 at -P 1 and $REQUESTS_P16 at -P 16; $times"
        local gmp
        gmp="unset: Go's default, $(nproc) here"
        [[ -z ${GOMAXPROCS:-} ]] || gmp="$GOMAXPROCS, from the environment"
        echo "servers:    ours = mutexredis --fsync always (GOMAXPROCS $gmp)"
        echo "            redis-aof = redis-server --appendonly yes --appendfsync always --save \"\""
        echo "            redis-nopersist = redis-server --appendonly no --save \"\""
        echo "note:       redis-benchmark runs on the same $(nproc)-core machine and competes with the server for CPU."
        echo "            rps = requests/s, p50/p99 = latency in ms, cpu/op = the server process's user+system CPU"
        echo "            time (/proc/PID/stat, all threads) over the run / requests, in µs (a tick is $((1000000 / CLK_TCK)) µs:"
        echo "            short runs are coarse). rps ratios > 1: ours is faster; cpu ratios < 1: ours uses less CPU."
        if has_section single; then
            echo
            echo "== single: one keyspace (db 0), $KEYSPACE keys preloaded"
            echo "   PEEKFIRST, PEEKFIRST [rand + (PEEKFIRST [key:<random> +) and AFTERWRITE are mutexredis"
            echo "   commands: n/a for redis. EVALSHA set+get runs a script of SET then GET of a random key."
            echo
            print_single
        fi
        if has_section keyspaces; then
            echo
            echo "== keyspaces: $DBS keyspaces (dbs 0..$((DBS - 1))), $DB_KEYS keys preloaded in each: $DBS redis-benchmarks"
            echo "   at once, one per db (--dbnum, -r $DB_KEYS), -c $CLIENTS and -n split among them; rps is their sum"
            echo
            print_keyspaces
        fi
        if has_section sweep; then
            echo
            echo "== sweep: ours started with GOMAXPROCS=${SWEEP_PROCS// /, }; 1 keyspace as in single, $DBS keyspaces"
            echo "   as in keyspaces (redis-benchmark is not limited: it shares the machine's $(nproc) cores)"
            echo
            print_sweep
        fi
        echo
        echo "raw results (server, round, test, pipeline, rps, p50 ms, p99 ms, server CPU µs/op):"
        for s in "${ALL_SECTIONS[@]}"; do
            has_section "$s" || continue
            echo "-- $s"
            print_raw "$s"
        done
    } | tee "$out"
    log "saved $out"
}

main "$@"

#!/usr/bin/env bash
# Memory and restart benchmark: loads exactly KEYS distinct keys into
# mutexredis (fsync always), redis-server with appendfsync always and
# redis-server without persistence, reports each one's RSS, then restarts
# the two persistent ones on their data and times start -> first PONG.
# See bench/README.md.
#
# Environment:
#   KEYS=1000000       distinct keys to load (key:000000000000 …), via redis-cli --pipe
#   VALUE_SIZE=100     bytes per value (random, base64: incompressible-ish)
#   RESTARTS=3         restarts per server; the median time is reported
#   RESTART_SIGNAL=TERM  how the server is stopped before a restart; KILL
#                      measures recovery after a crash instead
#   QUICK=1            smoke test: 50000 keys, 1 restart
#   MUTEXREDIS_REV, MUTEXREDIS_BIN, BENCH_TMPDIR, KEEP=1   as for bench/compare.sh
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${QUICK:-0} == 1 ]]; then
    KEYS=${KEYS:-50000}
    RESTARTS=${RESTARTS:-1}
fi
KEYS=${KEYS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-100}
RESTARTS=${RESTARTS:-3}
RESTART_SIGNAL=${RESTART_SIGNAL:-TERM}

SERVERS=(ours redis-aof redis-nopersist)
PERSISTENT=(ours redis-aof) # the ones that can restart on their data

declare -A LOAD_S=() RSS=() HWM=() DISK=() DISK_AFTER=() START_FIRST=() START_MS=() START_ALL=() RSS_RESTART=()

# wait_aof_rewrite NAME: waits until redis has no AOF rewrite running or
# scheduled (one usually starts while loading), so disk use is settled.
wait_aof_rewrite() {
    local port=${SRV_PORT[$1]} deadline=$((SECONDS + 300))
    while redis-cli -h 127.0.0.1 -p "$port" INFO persistence |
        grep -Eq '^aof_rewrite_(in_progress|scheduled):1'; do
        ((SECONDS < deadline)) || die "$1: AOF rewrite still running after 300s"
        sleep 0.1
    done
}

# disk_kb NAME: apparent size in KiB of the server's data (Pebble
# preallocates its WAL, so allocated blocks overstate it), or nothing.
disk_kb() {
    local d
    d=$(data_dir "$1")
    [[ -z $d ]] || du -sk --apparent-size "$d" | cut -f1
}

# data_dir NAME: where the server keeps its data.
data_dir() {
    case ${SRV_KIND[$1]} in
    ours) echo "${SRV_DIR[$1]}/data" ;;
    redis-aof) echo "${SRV_DIR[$1]}/appendonlydir" ;;
    *) echo "" ;;
    esac
}

# measure_load NAME FILE: loads FILE, checks DBSIZE, records time, RSS, disk.
measure_load() {
    local name=$1 file=$2 t0 t1 n
    t0=$EPOCHREALTIME
    load_keys "$name" "$file" "$KEYS"
    t1=$EPOCHREALTIME
    LOAD_S[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    n=$(dbsize "$name")
    [[ $n == "$KEYS" ]] || die "$name has $n keys after loading, not $KEYS"
    read -r "RSS[$name]" "HWM[$name]" < <(rss_kb "${SRV_PID[$name]}")
    [[ ${SRV_KIND[$name]} == redis-aof ]] && wait_aof_rewrite "$name"
    DISK[$name]=$(disk_kb "$name")
    log "$name: loaded $KEYS keys in ${LOAD_S[$name]}s; RSS ${RSS[$name]} KiB (peak ${HWM[$name]} KiB); disk ${DISK[$name]:-0} KiB"
}

# measure_restarts NAME: RESTARTS times, stops the server with
# RESTART_SIGNAL, starts it again on the same data and times spawn -> first
# PONG; then checks that every key is back.
measure_restarts() {
    local name=$1 i t0 t1 n times=()
    for ((i = 1; i <= RESTARTS; i++)); do
        # Redis rewrites its AOF in the background when it has grown (also
        # right after a restart); let that finish so every restart starts
        # from a settled AOF and no rewrite child outlives a KILL.
        [[ ${SRV_KIND[$name]} == redis-aof ]] && wait_aof_rewrite "$name"
        stop_server "$name" "$RESTART_SIGNAL"
        t0=$EPOCHREALTIME
        spawn_server "$name"
        wait_ping "$name" 600
        t1=$EPOCHREALTIME
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}')")
        n=$(dbsize "$name")
        [[ $n == "$KEYS" ]] || die "$name has $n keys after restart $i, not $KEYS"
        log "$name: restart $i: first PONG after ${times[-1]} ms, $n keys"
    done
    START_ALL[$name]="${times[*]}"
    START_FIRST[$name]=${times[0]}
    START_MS[$name]=$(printf '%s\n' "${times[@]}" | median)
    read -r "RSS_RESTART[$name]" _ < <(rss_kb "${SRV_PID[$name]}")
    DISK_AFTER[$name]=$(disk_kb "$name")
}

mib() { [[ -n $1 ]] && awk -v k="$1" 'BEGIN {printf "%.0f MiB", k / 1024}' || echo n/a; }

print_table() {
    local fmt="%-15s | %9s | %8s | %8s | %8s | %9s | %9s | %8s | %8s | %s\n"
    printf "%-15s | %9s | %-30s | %-21s | %-19s |\n" "" "" "after load" "start -> first PONG" "after last restart"
    # shellcheck disable=SC2059
    printf "$fmt" server "load time" RSS "peak RSS" disk "1st" median RSS disk "each restart (ms)"
    printf '%s\n' "$(printf '%.0s-' {1..130})"
    local name first median
    for name in "${SERVERS[@]}"; do
        first=n/a median=n/a
        [[ -n ${START_FIRST[$name]:-} ]] && first="${START_FIRST[$name]} ms"
        [[ -n ${START_MS[$name]:-} ]] && median="$(printf %.0f "${START_MS[$name]}") ms"
        # shellcheck disable=SC2059
        printf "$fmt" "$name" "${LOAD_S[$name]}s" "$(mib "${RSS[$name]}")" "$(mib "${HWM[$name]}")" \
            "$(mib "${DISK[$name]}")" "$first" "$median" "$(mib "${RSS_RESTART[$name]:-}")" \
            "$(mib "${DISK_AFTER[$name]:-}")" "${START_ALL[$name]:-n/a}"
    done
    local r
    r=$(awk -v a="${RSS[ours]}" -v b="${RSS[redis-aof]}" 'BEGIN {printf "%.2fx", a / b}')
    echo
    echo "ours/redis-aof: RSS after load $r; start -> first PONG, 1st restart" \
        "$(awk -v a="${START_FIRST[ours]}" -v b="${START_FIRST[redis-aof]}" 'BEGIN {printf "%.2fx", a / b}'), median" \
        "$(awk -v a="${START_MS[ours]}" -v b="${START_MS[redis-aof]}" 'BEGIN {printf "%.2fx", a / b}')"
}

main() {
    ensure_redis
    setup_workdir
    build_mutexredis
    local name

    log "generating $KEYS SET commands with $VALUE_SIZE-byte values"
    gen_set_commands "$KEYS" "$WORK/load.resp" "$VALUE_SIZE"

    for name in "${SERVERS[@]}"; do
        new_server "$name" "$name"
        start_server "$name"
    done
    for name in "${SERVERS[@]}"; do measure_load "$name" "$WORK/load.resp"; done
    # The non-persistent server is not restarted; stop it to free its memory.
    stop_server redis-nopersist TERM
    for name in "${PERSISTENT[@]}"; do measure_restarts "$name"; done

    mkdir -p "$RESULTS_DIR"
    local out
    out=$RESULTS_DIR/load-$(date +%Y%m%d-%H%M%S).txt
    {
        echo "mutexredis vs redis: memory and restart with $KEYS keys"
        describe_machine
        echo "data:       $KEYS distinct keys key:%012d, random $VALUE_SIZE-byte values, sent with redis-cli --pipe"
        echo "servers:    ours = mutexredis --fsync always"
        echo "            redis-aof = redis-server --appendonly yes --appendfsync always --save \"\""
        echo "            redis-nopersist = redis-server --appendonly no --save \"\""
        echo "restart:    stop with SIG$RESTART_SIGNAL, start on the same dir, time from spawn to the first"
        echo "            PONG (redis answers -LOADING until its AOF is read): the 1st restart (ours replays"
        echo "            its WAL then) and the median of $RESTARTS; redis's background AOF rewrite is let"
        echo "            finish before each stop; page cache warm."
        echo "memory:     RSS / peak RSS are VmRSS / VmHWM right after the load (ours: depends on"
        echo "            where Go's GC is), RSS after restart right after the last one; disk is the"
        echo "            store's apparent size (redis-aof: appendonlydir, AOF rewrite settled)."
        echo
        print_table
    } | tee "$out"
    log "saved $out"
}

main "$@"

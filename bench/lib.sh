# Shared helpers for the bench/*.sh scripts. Source it; don't run it.
#
# It manages the three servers under test, each on its own free loopback
# port with its own temporary directory:
#   ours             mutexredis --fsync always
#   redis-aof        redis-server --appendonly yes --appendfsync always --save ""
#   redis-nopersist  redis-server --appendonly no --save ""
# and stops whatever it started when the calling script exits (trap),
# background redis-benchmark processes (BG_PIDS) included. It also measures
# a process's CPU time (cpu_ticks, CLK_TCK).

# shellcheck shell=bash disable=SC2034 # variables used by the sourcing scripts

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${MUTEXREDIS_BIN:-$ROOT/bin/mutexredis}
RESULTS_DIR=$ROOT/bench-results

# Per-server state, keyed by server name.
# SRV_GOMAXPROCS: if set for a server, its GOMAXPROCS environment variable
# (ours only).
declare -A SRV_KIND=() SRV_PORT=() SRV_PID=() SRV_DIR=() SRV_GOMAXPROCS=()
BG_PIDS=()       # background processes (redis-benchmark) to kill on exit
LOAD_BEFORE=""   # load average and CPU pressure when the run started
WORK=""          # temp dir holding every server's dir and logs
USED_PORTS=" "   # ports handed out by free_port, so two servers never share one

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ensure_redis installs redis-server and redis-tools (redis-cli,
# redis-benchmark) from Debian when any of them is missing.
ensure_redis() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null &&
        command -v redis-benchmark >/dev/null; then
        return
    fi
    log "installing redis-server and redis-tools with apt-get"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server redis-tools >/dev/null
}

# build_mutexredis builds the server into bin/mutexredis as `make build`
# does. MUTEXREDIS_REV=<commit> builds that commit instead (from `git
# archive`, into the temp dir: the work tree is not touched), and
# MUTEXREDIS_BIN=<path> skips building. Call after setup_workdir.
BUILT_FROM="work tree"
build_mutexredis() {
    if [[ -n ${MUTEXREDIS_BIN:-} ]]; then
        [[ -x $BIN ]] || die "MUTEXREDIS_BIN=$BIN is not executable"
        BUILT_FROM="$BIN"
        return
    fi
    if [[ -n ${MUTEXREDIS_REV:-} ]]; then
        local rev src=$WORK/src
        rev=$(cd "$ROOT" && git rev-parse --short "$MUTEXREDIS_REV^{commit}") ||
            die "MUTEXREDIS_REV=$MUTEXREDIS_REV is not a commit"
        mkdir -p "$src"
        (cd "$ROOT" && git archive "$rev") | tar -x -C "$src"
        BIN=$WORK/mutexredis
        log "building $BIN from commit $rev"
        (cd "$src" && go build -o "$BIN" ./cmd/mutexredis)
        BUILT_FROM="commit $rev"
        return
    fi
    log "building $BIN"
    (cd "$ROOT" && go build -o "$BIN" ./cmd/mutexredis)
}

# setup_workdir creates the temp dir and installs the cleanup trap.
# BENCH_TMPDIR chooses where (default: $TMPDIR or /tmp). It should be on a
# real disk: on tmpfs, fsync costs nothing and the comparison means little.
setup_workdir() {
    LOAD_BEFORE="load average $(cut -d' ' -f1-3 /proc/loadavg)"
    if [[ -r /proc/pressure/cpu ]]; then
        LOAD_BEFORE+=", cpu pressure $(awk '/^some/ {sub("avg60=", "", $3); print $3 "% (60s)"}' /proc/pressure/cpu)"
    fi
    WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/mutexredis-bench.XXXXXX")
    trap cleanup EXIT
    trap 'log "interrupted"; exit 130' INT TERM HUP
    local fs
    fs=$(fs_type "$WORK")
    if [[ $fs == tmpfs || $fs == ramfs ]]; then
        log "warning: $WORK is on $fs, fsync is free there; set BENCH_TMPDIR to a disk"
    fi
}

# cleanup stops every server still running and removes the temp dir
# (kept when KEEP=1, e.g. to read the servers' logs).
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    local name pid
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for name in "${!SRV_PID[@]}"; do
        stop_server "$name" TERM || true
    done
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${KEEP:-0} == 1 ]]; then
            log "kept $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on, not in
# USED_PORTS. It picks below the ephemeral range (net.ipv4.ip_local_port_range,
# 32768 up by default): outgoing connections (redis-benchmark's, everyone's on
# the machine) take their local ports there, and a port held by one cannot be
# listened on although nothing answers on it. It runs in $(…): the caller
# adds the port to USED_PORTS (new_server does).
free_port() {
    local low=32768 lo=10000 span port tries
    if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
        low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range)
    fi
    span=$((low - lo))
    if ((span < 2000)); then lo=20000 span=40000; fi # a wide ephemeral range: take our chances
    for ((tries = 0; tries < 200; tries++)); do
        port=$((lo + (RANDOM * 32768 + RANDOM) % span))
        [[ $USED_PORTS == *" $port "* ]] && continue
        # A refused connection means the port is free.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

# new_server NAME KIND: registers a server with a fresh dir and port.
# KIND is ours, redis-aof or redis-nopersist.
new_server() {
    local name=$1 kind=$2
    SRV_KIND[$name]=$kind
    SRV_DIR[$name]=$WORK/$name
    SRV_PORT[$name]=$(free_port)
    USED_PORTS+="${SRV_PORT[$name]} "
    mkdir -p "${SRV_DIR[$name]}"
}

# spawn_server NAME: starts the server (in the background, output to
# $WORK/NAME.log) on its registered port and dir, without waiting for it.
# Every server gets DATABASES numbered keyspaces (default 16, as both
# servers' own default), and ours the GOMAXPROCS of SRV_GOMAXPROCS[NAME] if
# set (else it inherits the caller's environment, as before).
spawn_server() {
    local name=$1 dir=${SRV_DIR[$1]} port=${SRV_PORT[$1]}
    local logf=$WORK/$name.log dbs=${DATABASES:-16}
    case ${SRV_KIND[$name]} in
    ours)
        local envs=()
        if [[ -n ${SRV_GOMAXPROCS[$name]:-} ]]; then envs+=("GOMAXPROCS=${SRV_GOMAXPROCS[$name]}"); fi
        env "${envs[@]}" "$BIN" --bind 127.0.0.1 --port "$port" --dir "$dir/data" --fsync always \
            --databases "$dbs" >>"$logf" 2>&1 &
        ;;
    redis-aof)
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
            --appendonly yes --appendfsync always --save "" --databases "$dbs" \
            --daemonize no --logfile "" >>"$logf" 2>&1 &
        ;;
    redis-nopersist)
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
            --appendonly no --save "" --databases "$dbs" \
            --daemonize no --logfile "" >>"$logf" 2>&1 &
        ;;
    *) die "unknown server kind ${SRV_KIND[$name]}" ;;
    esac
    SRV_PID[$name]=$!
}

# wait_ping NAME [TIMEOUT_S]: polls PING until the server answers PONG
# (Redis answers -LOADING while it reads its AOF, so this is "ready").
# Fails if the process exits or TIMEOUT_S (default 60) passes.
wait_ping() {
    local name=$1 timeout=${2:-60}
    local pid=${SRV_PID[$name]} port=${SRV_PORT[$name]}
    local deadline=$((SECONDS + timeout))
    while [[ $(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null) != PONG ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$WORK/$name.log" >&2 || true
            die "$name (pid $pid) exited before answering PING"
        fi
        ((SECONDS < deadline)) || die "$name did not answer PING within ${timeout}s"
        sleep 0.005
    done
    # Make sure the PONG came from our process and not from a squatter.
    local dir
    dir=$(redis-cli -h 127.0.0.1 -p "$port" CONFIG GET dir | sed -n 2p)
    [[ $dir == "${SRV_DIR[$name]}"* ]] || die "port $port answers for $dir, not for $name"
}

# start_server NAME: spawn_server + wait_ping.
start_server() {
    spawn_server "$1"
    wait_ping "$1" "${2:-60}"
    log "$1 (${SRV_KIND[$1]}) ready on 127.0.0.1:${SRV_PORT[$1]}, pid ${SRV_PID[$1]}"
}

# stop_server NAME [SIGNAL]: signals the server (TERM by default) and
# waits for it to exit, escalating to KILL after 30s.
stop_server() {
    local name=$1 sig=${2:-TERM}
    local pid=${SRV_PID[$name]:-}
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.02; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) ignored SIG$sig for 30s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    unset "SRV_PID[$name]"
}

# fs_type DIR: the type of the filesystem holding DIR (ext4, tmpfs …).
fs_type() { df -T -- "$1" | awk 'NR == 2 {print $2}'; }

# gen_set_commands N FILE [VALUE_SIZE]: writes to FILE, in RESP for
# `redis-cli --pipe`, N SETs of the distinct keys key:000000000000 …
# key:<N-1> (the names redis-benchmark's -r gives) with random printable
# values of VALUE_SIZE (default 100) bytes, so that no store can compress
# them away.
gen_set_commands() {
    local n=$1 out=$2 vsize=${3:-100}
    head -c $(((n + 1) * vsize * 3 / 4 + 3 * vsize)) /dev/urandom | base64 -w "$vsize" | head -n "$n" |
        awk '{k = sprintf("key:%012d", NR - 1)
              printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length($0), $0}' >"$out"
    local got
    got=$(grep -c '^\*3' "$out" || true)  # values are base64: no '*'
    [[ $got == "$n" ]] || die "generated $got SET commands, not $n"
}

# load_keys NAME FILE N [DB]: sends FILE (from gen_set_commands) to the
# server with redis-cli --pipe, into database (numbered keyspace) DB
# (default 0), and checks that all N replies came back without error.
load_keys() {
    local name=$1 file=$2 n=$3 db=${4:-0} out
    out=$(redis-cli -h 127.0.0.1 -p "${SRV_PORT[$name]}" -n "$db" --pipe <"$file" 2>&1) ||
        die "redis-cli --pipe into $name (db $db) failed: $out"
    [[ $out == *"errors: 0, replies: $n"* ]] || die "loading $name (db $db): $out"
}

# dbsize NAME [DB]: the server's DBSIZE in database DB (default 0).
dbsize() { redis-cli -h 127.0.0.1 -p "${SRV_PORT[$1]}" -n "${2:-0}" DBSIZE; }

# CLK_TCK: the unit of the CPU times in /proc/PID/stat, ticks per second.
CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID...: the user+system CPU time of the processes (all their
# threads) so far, in clock ticks (fields 14 and 15 of /proc/PID/stat;
# field 2, the command name, has no spaces for the servers here).
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}

# us_per_op TICKS REQUESTS: CPU time per request in µs, from a cpu_ticks
# difference (one decimal; a tick is 1e6/CLK_TCK µs, so short runs are coarse).
us_per_op() {
    awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}'
}

# rss_kb PID: resident set size and its peak (VmRSS, VmHWM) in KiB.
rss_kb() { awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {print r, h}' "/proc/$1/status"; }

# median: the median of the numbers on stdin, one per line.
median() {
    sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) exit 1
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# fsync_probe: the mean time of a 4 KiB O_DSYNC write in $WORK, in µs: how
# expensive a durable write is on this disk (it bounds every fsync always server).
fsync_probe() {
    local n=500
    dd if=/dev/zero of="$WORK/fsync-probe" bs=4k count=$n oflag=dsync 2>&1 |
        awk -v n=$n '/copied/ {for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") printf "%.0f", $(i - 1) * 1e6 / n}'
    rm -f "$WORK/fsync-probe"
}

# describe_machine prints a header on what ran and where.
describe_machine() {
    local rev=$BUILT_FROM
    if [[ $BUILT_FROM == "work tree" ]]; then
        rev="work tree at $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
        if [[ -n $(cd "$ROOT" && git status --porcelain -- . ':!bench' 2>/dev/null) ]]; then
            rev+=" + uncommitted changes"
        fi
    fi
    echo "date:       $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "mutexredis: $rev, $(go version 2>/dev/null | awk '{print $3}')"
    echo "redis:      $(redis-server --version | awk '{print $3}' | sed 's/v=//')"
    echo "machine:    $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
    echo "disk:       $(fs_type "$WORK") ($WORK), $(fsync_probe) µs per 4 KiB O_DSYNC write (dd)"
    echo "cpu load:   $LOAD_BEFORE before starting (1/5/15 min; other work on the machine competes)"
}

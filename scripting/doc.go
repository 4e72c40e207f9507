// Package scripting is mutexredis's Lua environment: the Lua 5.1 VM
// (gopher-lua) set up as Redis 7 sets up its own for EVAL and FUNCTION.
//
// What it promises:
//
//   - Redis 7.0's environment and nothing more: the base, string, math,
//     table and coroutine libraries, cjson, cmsgpack, bit and struct, and
//     the redis table (call, pcall, error_reply, status_reply, sha1hex, log
//     and its levels, setresp, set_repl and the REPL_* constants,
//     replicate_commands, REDIS_VERSION, REDIS_VERSION_NUM). No os, io,
//     debug, require, loadfile, dofile, print, getfenv or setfenv.
//   - Globals protected as Redis protects them: reading a global that does
//     not exist and writing any global are errors with Redis's texts, and
//     the library tables are read-only, so no script can change what the
//     next one sees.
//   - Redis's conversion rules between Lua values and replies, both ways
//     (RESP2 and, after redis.setresp(3), RESP3), and Redis 7.0's error
//     texts ("ERR user_script:1: …", "… script: <sha>, on @user_script:1.").
//   - Bounded memory per run for the VM's own structures (call stack and
//     registry have fixed maxima) and cancellation: a run stops at the next
//     instruction once its context is done (SCRIPT KILL).
//
// The package knows nothing of commands or of the store: a run is given a
// Caller that executes one command (redis.call) and returns its reply in
// this package's reply types. An Engine is safe for concurrent use; each run
// takes a VM of its own from the engine's pool.
package scripting

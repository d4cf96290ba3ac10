#!/usr/bin/env bash
# Live-client compliance run for calserver (STYLE.md point 12).
#
# Starts `calserver serve` on a free 127.0.0.1 port with a throw-away data
# folder, creates users and a calendar with the CLI, and runs real clients:
#   http        smoke_check.py       discovery, redirects, 401s, 400s
#   vdirsyncer  vdirsyncer_check.py  two-way sync of a few hundred events
#   caldav      caldav_check.py      the python caldav library
#   litmus      litmus_check.py      generic WebDAV suite, judged by an
#                                    allow-list (see that file for why most
#                                    of litmus does not apply to CalDAV)
#   server-log  no tracebacks and no 5xx in the server's log
# Each check prints "ok - ..." / "not ok - ..."; the last line is
#   compat: N passed, M failed
# and the exit status is non-zero if anything failed.
#
# Needs on PATH (or in the variables below): calserver, vdirsyncer, litmus,
# curl, and a python with the `caldav` library.
#
# Environment:
#   COMPAT_ONLY="http vdirsyncer caldav litmus"   which checks to run
#   COMPAT_EVENTS=300       events in the vdirsyncer sync (>= 210)
#   COMPAT_LOG_DIR=DIR      logs (default: compat/logs, emptied each run)
#   COMPAT_KEEP=1           keep the temporary data folders
#   COMPAT_SERVER=radicale  run the same checks against stock Radicale 3.9
#                           (its multifilesystem storage) as a baseline
#   PYTHON, CALSERVER, VDIRSYNCER, LITMUS, RADICALE   commands to use
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
CALSERVER="${CALSERVER:-calserver}"
VDIRSYNCER="${VDIRSYNCER:-vdirsyncer}"
LITMUS="${LITMUS:-litmus}"
RADICALE="${RADICALE:-$PYTHON -m radicale}"
SERVER_KIND="${COMPAT_SERVER:-calserver}"
ONLY="${COMPAT_ONLY:-http vdirsyncer caldav litmus}"
EVENTS="${COMPAT_EVENTS:-300}"
LOG_DIR="${COMPAT_LOG_DIR:-$HERE/logs}"
KEEP="${COMPAT_KEEP:-0}"

USER_NAME="alice"
USER_PASS="compat:s3cret/pw"   # a colon on purpose: only the user name cannot hold one
CAL="work"
CAL_NAME="Compat Work ✓"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/calserver-compat.XXXXXX")"
SERVER_PID=""
CHILD_PID=""
SERVER_LOG=""
PORT=""
PASSED=0
FAILED=0
FAILED_NAMES=()
START_TIME=$SECONDS

mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log "$LOG_DIR"/*.out

say() { printf '%s\n' "$*"; }

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            say "# server $SERVER_PID ignored SIGTERM for 5s, killing it"
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

cleanup() {
    local rc=$?
    if [[ -n "$CHILD_PID" ]]; then
        # `timeout` passes the signal on to its whole process group
        kill -TERM "$CHILD_PID" 2>/dev/null || true
        wait "$CHILD_PID" 2>/dev/null || true
    fi
    stop_server
    if [[ "$KEEP" == 1 ]]; then
        say "# kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record_ok() { PASSED=$((PASSED + 1)); say "ok - $1"; }
record_fail() {
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
    say "not ok - $1"
    if [[ $# -gt 1 ]]; then
        printf '%s\n' "$2" | sed 's/^/    # /'
    fi
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME RIGHTS: a fresh server with its own data folder; RIGHTS is
# "default" (calserver's own rights plugin) or "authenticated" (Radicale's
# built-in, for litmus: see litmus_check.py).
start_server() {
    local name="$1" rights="$2"
    local dir="$WORK/$name"
    mkdir -p "$dir/data"
    PORT="$(free_port)"
    SERVER_LOG="$LOG_DIR/server-$name.log"
    local cfg="$dir/config"
    if [[ "$SERVER_KIND" == radicale ]]; then
        printf '%s:%s\n' "$USER_NAME" "$USER_PASS" > "$dir/users"
        {
            printf '[server]\nhosts = 127.0.0.1:%s\n' "$PORT"
            printf '[auth]\ntype = htpasswd\nhtpasswd_filename = %s\nhtpasswd_encryption = plain\n' "$dir/users"
            printf '[storage]\nfilesystem_folder = %s\n' "$dir/data"
            [[ "$rights" == default ]] || printf '[rights]\ntype = %s\n' "$rights"
            printf '[logging]\nlevel = info\n'
        } > "$cfg"
        # shellcheck disable=SC2086  # RADICALE may be "python3 -m radicale"
        $RADICALE --config "$cfg" > "$SERVER_LOG" 2>&1 &
        SERVER_PID=$!
    else
        {
            printf '[server]\nhosts = 127.0.0.1:%s\n' "$PORT"
            printf '[storage]\ndata_folder = %s\n' "$dir/data"
            [[ "$rights" == default ]] || printf '[rights]\ntype = %s\n' "$rights"
            printf '[logging]\nlevel = info\n'
        } > "$cfg"
        local out
        if ! out=$(printf '%s' "$USER_PASS" | timeout 30 "$CALSERVER" --config "$cfg" \
                user add "$USER_NAME" --password-stdin 2>&1); then
            record_fail "setup($name): calserver user add $USER_NAME" "$out"
            return 1
        fi
        "$CALSERVER" --config "$cfg" serve > "$SERVER_LOG" 2>&1 &
        SERVER_PID=$!
    fi
    local url="http://127.0.0.1:$PORT"
    local deadline=$((SECONDS + 30)) code
    while :; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            record_fail "setup($name): server exited during start-up" "$(tail -n 30 "$SERVER_LOG")"
            SERVER_PID=""
            return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/" || true)
        [[ "$code" != 000 ]] && break
        if (( SECONDS > deadline )); then
            record_fail "setup($name): server not answering on $url after 30s" \
                "$(tail -n 30 "$SERVER_LOG")"
            return 1
        fi
        sleep 0.2
    done
    if [[ "$SERVER_KIND" != radicale ]] && ! grep -q "127.0.0.1:$PORT" "$SERVER_LOG"; then
        record_fail "setup($name): serve printed no line with its URL" "$(tail -n 5 "$SERVER_LOG")"
    fi
    say "# $SERVER_KIND ($name, rights=$rights) listening on $url, log $SERVER_LOG"
}

create_calendar() {
    local name="$1" out
    if [[ "$SERVER_KIND" == radicale ]]; then
        out=$(curl -s -w '\n%{http_code}' --max-time 10 -u "$USER_NAME:$USER_PASS" \
            -X MKCALENDAR -H 'Content-Type: application/xml; charset=utf-8' \
            --data "<?xml version=\"1.0\" encoding=\"utf-8\"?><C:mkcalendar xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:set><D:prop><D:displayname>$CAL_NAME</D:displayname></D:prop></D:set></C:mkcalendar>" \
            "http://127.0.0.1:$PORT/$USER_NAME/$CAL/")
        [[ "${out##*$'\n'}" == 201 ]] && return 0
    else
        out=$(timeout 30 "$CALSERVER" --config "$WORK/$name/config" \
            calendar create "$USER_NAME/$CAL" --name "$CAL_NAME" 2>&1) && return 0
    fi
    record_fail "setup($name): create calendar $USER_NAME/$CAL" "$out"
    return 1
}

# run_check NAME TIMEOUT CMD...: run a check script, show and count its lines.
run_check() {
    local name="$1" limit="$2"
    shift 2
    local out="$LOG_DIR/$name.out" rc=0
    say "# --- $name"
    # In the background and waited for, so that an INT/TERM to this script
    # interrupts the wait at once (a foreground child would delay the trap).
    timeout --kill-after=10 "$limit" "$@" > "$out" 2>&1 &
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    cat "$out"
    local ok bad
    ok=$(grep -c '^ok - ' "$out" || true)
    bad=$(grep -c '^not ok - ' "$out" || true)
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + bad))
    while IFS= read -r line; do
        FAILED_NAMES+=("${line#not ok - }")
    done < <(grep '^not ok - ' "$out" || true)
    if (( rc == 124 || rc == 137 )); then
        record_fail "$name: timed out after ${limit}s"
    elif (( rc != 0 && bad == 0 )); then
        record_fail "$name: exited with status $rc without reporting a failure" \
            "$(tail -n 20 "$out")"
    fi
}

# The server must never answer 5xx or log a traceback, whatever clients send.
check_server_log() {
    local name="$1" hits
    hits=$(grep -n -E 'Traceback|\[(ERROR|CRITICAL)\]|: 5[0-9][0-9] ' "$SERVER_LOG" | head -n 20 || true)
    if [[ -z "$hits" ]]; then
        record_ok "server-log($name): no tracebacks, errors or 5xx responses"
    else
        record_fail "server-log($name): tracebacks, errors or 5xx responses in $SERVER_LOG" "$hits"
    fi
}

wants() { [[ " $ONLY " == *" $1 "* ]]; }

need() {
    local what="$1" cmd="$2"
    if ! command -v "${cmd%% *}" > /dev/null 2>&1; then
        record_fail "prerequisite: $what ('${cmd%% *}') not found on PATH"
        return 1
    fi
}

say "# calserver compat run: $ONLY (server: $SERVER_KIND, work dir $WORK, logs $LOG_DIR)"
need curl curl || exit 1
need python "$PYTHON" || exit 1
if [[ "$SERVER_KIND" == radicale ]]; then need radicale "$RADICALE" || exit 1
else need calserver "$CALSERVER" || exit 1; fi

# --- main server: the default configuration ----------------------------------
if wants http || wants vdirsyncer || wants caldav; then
    if start_server main default && create_calendar main; then
        URL="http://127.0.0.1:$PORT"
        if wants http; then
            run_check http 60 "$PYTHON" "$HERE/smoke_check.py" --url "$URL" \
                --user "$USER_NAME" --password "$USER_PASS" --calendar "$CAL"
        fi
        if wants vdirsyncer && need vdirsyncer "$VDIRSYNCER"; then
            run_check vdirsyncer 150 "$PYTHON" "$HERE/vdirsyncer_check.py" --url "$URL" \
                --user "$USER_NAME" --password "$USER_PASS" --calendar "$CAL" \
                --count "$EVENTS" --workdir "$WORK/vdirsyncer" \
                --log "$LOG_DIR/vdirsyncer.log" --vdirsyncer "$VDIRSYNCER"
        fi
        if wants caldav; then
            run_check caldav 60 "$PYTHON" "$HERE/caldav_check.py" --url "$URL" \
                --user "$USER_NAME" --password "$USER_PASS"
        fi
        stop_server
        check_server_log main
    fi
    stop_server
fi

# --- litmus server: Radicale's "authenticated" rights (see litmus_check.py) ---
if wants litmus && need litmus "$LITMUS"; then
    if start_server litmus authenticated; then
        run_check litmus 120 "$PYTHON" "$HERE/litmus_check.py" \
            --url "http://127.0.0.1:$PORT/" --user "$USER_NAME" --password "$USER_PASS" \
            --workdir "$WORK/litmus" --log "$LOG_DIR/litmus.log" --litmus "$LITMUS"
        cp "$WORK/litmus/debug.log" "$LOG_DIR/litmus-debug.log" 2>/dev/null || true
        stop_server
        check_server_log litmus
    fi
    stop_server
fi

say ""
if (( FAILED > 0 )); then
    say "# failed:"
    printf '#   %s\n' "${FAILED_NAMES[@]}"
fi
say "compat: $PASSED passed, $FAILED failed ($SERVER_KIND, $((SECONDS - START_TIME))s; logs in $LOG_DIR)"
(( FAILED == 0 ))

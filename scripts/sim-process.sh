# A bedrock-sim process for the load scripts (sourced, not run): scripts/quota-run.sh and
# scripts/bench-seed.sh. Needs SIM (the binary), WORK (a directory for its output) and log().

SIM_PID=""
SIM_ADDR=""

# start_sim NAME SIM_ARGS... : starts bedrock-sim on a free loopback port with SIM_ARGS; sets
# SIM_PID and SIM_ADDR; fails (printing the sim's stderr) when it exits or never listens.
start_sim() {
  local name="$1"
  shift
  "$SIM" --listen 127.0.0.1:0 "$@" > "$WORK/sim-$name.out" 2> "$WORK/sim-$name.err" &
  SIM_PID=$!
  SIM_ADDR=""
  for _ in $(seq 1 100); do
    SIM_ADDR="$(sed -n 's/^listening on //p' "$WORK/sim-$name.out")"
    [[ -n "$SIM_ADDR" ]] && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim-$name.err" >&2; return 1; }
    sleep 0.1
  done
  [[ -n "$SIM_ADDR" ]] || { log "bedrock-sim did not start"; return 1; }
  case "$SIM_ADDR" in 127.0.0.1:*) ;; *) log "bedrock-sim is not on loopback: $SIM_ADDR"; return 1 ;; esac
}

# stop_sim : stops the sim start_sim started, if any.
stop_sim() {
  if [[ -n "$SIM_PID" ]]; then
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
    SIM_PID=""
  fi
}

# sim_stats : the running sim's /_sim/stats as JSON on stdout.
sim_stats() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
    "http://$SIM_ADDR/_sim/stats"
}

# sim_calls : the running sim's /_sim/calls (every admission and throttle, timed) on stdout.
sim_calls() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
    "http://$SIM_ADDR/_sim/calls"
}

#!/bin/sh
# A stop signal during `opplan plan --json` (tests/tools/CMakeLists.txt): the command must print
# its best plan so far as one valid JSON object with termination "stopped" and exit 0.
#   stop_signal.sh OPPLAN CMAKE CHECK_SCRIPT WORKDIR SIGNAL ARGS...
# The problem is chosen to take minutes when not stopped, and the signal is sent a few seconds in
# (after the planner installed its handler); no timing is asserted beyond "it ended at all".
set -u
opplan=$1 cmake=$2 check=$3 dir=$4 signal=$5
shift 5
mkdir -p "$dir"
out="$dir/plan-$signal.json" err="$dir/plan-$signal.err"
"$opplan" plan --json "$@" >"$out" 2>"$err" &
pid=$!
sleep 3
kill -s "$signal" "$pid" || { echo "the plan ended before the signal"; cat "$err"; exit 1; }
# Wait for it, but not forever: a planner that ignores the signal fails the test.
waited=0
while kill -0 "$pid" 2>/dev/null; do
  if [ "$waited" -ge 240 ]; then
    echo "opplan plan still runs 120 s after SIG$signal"
    kill -s KILL "$pid"
    exit 1
  fi
  sleep 0.5
  waited=$((waited + 1))
done
wait "$pid"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "opplan plan exited with $rc after SIG$signal (expected 0 and the best plan so far)"
  cat "$err"
  exit 1
fi
exec "$cmake" -DFILE="$out" -P "$check"

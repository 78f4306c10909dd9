# Tiny assertion helpers for the CLI tests. Source it; call `finish` at the end.
failures=0
checks=0

# run_fthost ARGS...: runs fthost, leaving $out (stdout), $err (stderr) and $rc.
run_fthost() {
  local out_file err_file
  out_file=$(mktemp) err_file=$(mktemp)
  "$FTHOST" "$@" >"$out_file" 2>"$err_file"
  rc=$?
  out=$(cat "$out_file") err=$(cat "$err_file")
  rm -f "$out_file" "$err_file"
}

expect_rc() {
  checks=$((checks + 1))
  if [[ "$rc" != "$1" ]]; then
    echo "FAIL [$2]: exit code $rc, expected $1"; echo "  stdout: $out"; echo "  stderr: $err"
    failures=$((failures + 1))
  fi
}

# expect_contains TEXT NEEDLE LABEL
expect_contains() {
  checks=$((checks + 1))
  if [[ "$1" != *"$2"* ]]; then
    echo "FAIL [$3]: expected to find: $2"; echo "  in: $1"
    failures=$((failures + 1))
  fi
}

expect_not_contains() {
  checks=$((checks + 1))
  if [[ "$1" == *"$2"* ]]; then
    echo "FAIL [$3]: did not expect: $2"; echo "  in: $1"
    failures=$((failures + 1))
  fi
}

finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [[ $failures -eq 0 ]]
}

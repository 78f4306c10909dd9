#!/usr/bin/env bash
# Runs `fthost validate` on one malformed pipeline from configs/bad/ and checks that it prints
# exactly the errors written in the file's "# expect:" lines (in order) and exits with "# exit:".
# {file} in an expectation stands for the pipeline's path, {dir} for its folder.
# usage: check_bad_pipeline.sh FTHOST PIPELINE
set -u
fthost=$1
pipeline=$2
dir=$(dirname "$pipeline")

want_exit=$(sed -n 's/^# exit: //p' "$pipeline")
mapfile -t expectations < <(sed -n 's/^# expect: //p' "$pipeline")
if [[ -z "$want_exit" || ${#expectations[@]} -eq 0 ]]; then
  echo "FAIL: $pipeline has no '# exit:' or no '# expect:' line"
  exit 1
fi

stderr=$("$fthost" validate "$pipeline" 2>&1 >/dev/null)
got_exit=$?
mapfile -t got_errors < <(grep '^fthost: error: ' <<<"$stderr" | sed 's/^fthost: error: //')

status=0
if [[ "$got_exit" != "$want_exit" ]]; then
  echo "FAIL: exit code $got_exit, expected $want_exit"
  status=1
fi
if [[ ${#got_errors[@]} -ne ${#expectations[@]} ]]; then
  echo "FAIL: ${#got_errors[@]} error line(s), expected ${#expectations[@]}"
  status=1
fi
for i in "${!expectations[@]}"; do
  want=${expectations[$i]//\{file\}/$pipeline}
  want=${want//\{dir\}/$dir}
  if [[ "${got_errors[$i]:-}" != "$want" ]]; then
    echo "FAIL: error $((i + 1))"
    echo "  expected: $want"
    echo "  got:      ${got_errors[$i]:-<none>}"
    status=1
  fi
done
if [[ $status -ne 0 ]]; then
  echo "--- stderr of fthost validate $pipeline:"
  echo "$stderr"
fi
exit $status

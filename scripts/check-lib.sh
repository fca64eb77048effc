# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by scripts/check-*.sh (sourced, not run): build-tree setup and the
# totals line.  POSIX sh.

# setup DIR [meson setup options...]: configures DIR (again, if it exists)
# and builds it.
check_setup () {
  _dir=$1; shift
  if [ -d "$_dir" ]; then
    meson setup --reconfigure "$_dir" "$@" >/dev/null
  else
    meson setup "$_dir" "$@" >/dev/null
  fi
  meson compile -C "$_dir" >/dev/null
}

# check_totals TESTLOG.json...: prints "N passed, N failed[, N skipped]"
# from meson's JSON test logs (one result per meson test).
check_totals () {
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).readlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        r = json.loads(line)
        if r["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r["result"] == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
}

# check_finish TESTLOGS REPORTS STATUS: prints the totals line (the meson
# tests of the JSON logs TESTLOGS, space-separated, plus one for "no
# report files") and returns the job's status.
check_finish () {
  # shellcheck disable=SC2086
  _totals=$(check_totals $1)
  _passed=$(echo "$_totals" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
  _failed=$(echo "$_totals" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
  _status=$3
  if [ "$2" -eq 0 ]; then _passed=$((_passed + 1)); else _failed=$((_failed + 1)); _status=1; fi
  [ "$_status" -eq 0 ] || [ "$_failed" -gt 0 ] || _failed=1
  echo "$_passed passed, $_failed failed"
  return "$_status"
}

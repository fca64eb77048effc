#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs a GJS test module; skips (77) where gjs is not installed.
command -v gjs >/dev/null 2>&1 || { echo "gjs is not installed: skipped"; exit 77; }
exec gjs -m "$@"

#!/usr/bin/env bash
# The book's chapter 8 ("Container snapshots"), played for real on a pincusd container.
# Idempotent: starts pincusd when it is not running, initialises once, replays the scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
export PINCUS_DIR=${PINCUS_DIR:-/var/lib/pincus}
PATH="$PWD/.venv/bin:$PATH"
LOG_DIR=/var/log/pincus
mkdir -p "$LOG_DIR" "$PINCUS_DIR"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() {   # print the command as a user types it, then run it
    printf '\n$ %s\n' "$*"
    "$@"
}
run_fails() {   # a command the book expects to fail
    printf '\n$ %s\n' "$*"
    if "$@"; then echo "(expected an error)" >&2; exit 1; fi
}

if ! pincus admin waitready --timeout 1 >/dev/null 2>&1; then
    bold "Starting pincusd (log: $LOG_DIR/pincusd.log)"
    nohup pincusd --verbose >>"$LOG_DIR/pincusd.log" 2>&1 &
    echo "pincusd pid $!"
    pincus admin waitready --timeout 30
fi
if ! pincus storage list -f csv | grep -q '^default,'; then
    run pincus admin init --auto
fi
if ! pincus image list -f csv | grep -q 'busybox'; then
    bash scripts/build-busybox-image.sh images-cache >/dev/null
    run pincus image import images-cache/busybox-meta.tar.xz images-cache/busybox-rootfs.tar.xz --alias busybox
fi
if pincus info ubuntu-test >/dev/null 2>&1; then
    pincus delete --force ubuntu-test >/dev/null
fi

bold "Chapter 8: container snapshots"
run pincus launch busybox ubuntu-test
run pincus snapshot ubuntu-test ubuntu-test-1
run pincus info ubuntu-test
bold "Inside the container (pincus shell), create a file"
printf '\n$ pincus shell ubuntu-test\n# touch this_file.txt; ls\n'
printf 'touch this_file.txt; ls\n' | pincus shell ubuntu-test
run pincus stop ubuntu-test
run pincus restore ubuntu-test ubuntu-test-1
run pincus start ubuntu-test
bold "this_file.txt is gone:"
run pincus exec ubuntu-test -- ls -la /root
run pincus delete ubuntu-test/ubuntu-test-1
run pincus snapshot list ubuntu-test
bold "Deleting a running container by mistake is refused:"
run_fails pincus delete ubuntu-test
bold "Done. The container ubuntu-test is still running; remove it with: pincus delete --force ubuntu-test"

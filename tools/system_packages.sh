#!/usr/bin/env bash
# The programs the test suite runs that pip cannot install. Each one missing is installed with
# apt-get (as root, or with sudo when it needs no password); otherwise one line gives the exact
# command and the script fails. `make test` and `.ci/run` both call it; it does nothing when all
# are present.
set -euo pipefail

# program the suite runs : Debian package that ships it
wanted=(
  chromium:chromium           # the page in a real browser (tests/e2e)
  promtool:prometheus         # alert and recording rules parse (tests/manifests)
  pg_isready:postgresql-client
  kubectl:kubectl             # overlays render (tests/manifests); from the machine's apt sources
)
# Without TEST_DATABASE_URL the suite makes a throwaway cluster with initdb/pg_ctl.
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  wanted+=(initdb:postgresql)
fi

found() {  # Debian keeps initdb off PATH, in its versioned directory
  command -v "$1" >/dev/null || { [ "$1" = initdb ] && compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
}

missing=()
for pair in "${wanted[@]}"; do
  found "${pair%%:*}" || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "The tests need Debian packages that are missing; install them, then rerun: sudo apt-get update && sudo $command" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "The tests need these Debian packages (or your system's equivalent): ${missing[*]}" >&2
  exit 1
fi

echo "Installing what the tests need: ${missing[*]}"
"${as_root[@]}" apt-get update -qq
for package in "${missing[@]}"; do
  if [ -z "$(apt-cache policy "$package" | sed -n 's/^ *Candidate: //p' | grep -v '(none)')" ]; then
    echo "No apt source offers $package: add one (for kubectl, Kubernetes' own apt repository, v1.27 or newer), then rerun" >&2
    exit 1
  fi
done
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null

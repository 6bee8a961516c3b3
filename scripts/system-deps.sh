#!/usr/bin/env bash
# The Debian packages the tests use besides npm's: python3-h5py (writes the HDF5 files the SHD loader
# is tested on), chromium (opens the HTML reports, driven by playwright-core) and redis-server (the
# sweep's BullMQ queue runs on a real one). Installs what is
# missing when it can (root with apt-get, as on CI); otherwise says in one line what to run.
set -euo pipefail
missing=()
/usr/bin/python3 -c 'import h5py' 2>/dev/null || missing+=(python3-h5py)
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
[ -x "${REDIS_SERVER_PATH:-/usr/bin/redis-server}" ] || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
  echo "spikelr tests: installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
else
  echo "spikelr tests: ${missing[*]} missing; the tests that need them will fail. Install with: sudo apt-get install ${missing[*]}" >&2
fi

#!/usr/bin/env bash
# Installs the Debian packages techledger needs, only those missing.
# Used by every Makefile target so that a fresh machine needs nothing by hand.
set -euo pipefail
want=(build-essential cmake pkg-config librocksdb-dev libsodium-dev libmsgpack-dev
      libevent-dev libjansson-dev libcmocka-dev libssl-dev python3)
want+=("$@")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "techledger: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# deps.sh - installs the Debian packages migkit builds and tests with, when any is missing.
# Runs apt-get as root, or through sudo. Safe to run again: it does nothing when all are there.
set -euo pipefail

# libcurl4-openssl-dev: the soft backend's HTTP client (over migd's Unix socket); curl: the
# soft backend's tests talk to migd with it.
packages=(build-essential cmake pkg-config libjansson-dev libyaml-dev libmicrohttpd-dev
          libsqlite3-dev libcmocka-dev libcurl4-openssl-dev curl python3 python3-venv)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

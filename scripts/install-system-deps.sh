#!/usr/bin/env bash
# Installs the Debian packages that the tests and the embedded demo need, only those missing.
# Needs root (CI is root); without it, names what is missing and how to install it.
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [git]=git
  [tmux]=tmux
  [zstd]=zstd
  [ip]=iproute2
  [sshd]=openssh-server
  [ssh]=openssh-client
  [tar]=tar
  [sudo]=sudo
  # report.html's browser tests: headless Chromium and its WebDriver, driven by Selenium
  [chromium]=chromium
  [chromedriver]=chromium-driver
  # The Ray batch-inference profile: the gateway's job queue and the monitoring of docs/ray.md
  # (promtool comes with prometheus and checks the alert rules).
  [redis-server]=redis-server
  [prometheus]=prometheus
)

missing=()
for cmd in "${!wanted[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    missing+=("${wanted[$cmd]}")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 2
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

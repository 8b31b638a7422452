#!/usr/bin/env bash
# chromium.sh makes sure a Chromium or Chrome the browser tests can drive
# (test/console_test.go) is installed: it does nothing when AIPROD_CHROME
# names an executable or chromium, chromium-browser or google-chrome is on
# PATH; otherwise it installs Debian's chromium package with apt-get, which
# needs root. `make chromium` and `make test` (so .ci/run) call it.
set -euo pipefail

if [ -n "${AIPROD_CHROME:-}" ]; then
	if [ -x "$AIPROD_CHROME" ] || command -v "$AIPROD_CHROME" >/dev/null 2>&1; then
		echo "chromium: using AIPROD_CHROME=$AIPROD_CHROME"
		exit 0
	fi
	echo "chromium: AIPROD_CHROME=$AIPROD_CHROME is not an executable" >&2
	exit 1
fi
for b in chromium chromium-browser google-chrome; do
	if p=$(command -v "$b"); then
		echo "chromium: found $p"
		exit 0
	fi
done

if ! command -v apt-get >/dev/null 2>&1; then
	echo "chromium: no Chromium or Chrome on PATH and no apt-get to install one." >&2
	echo "chromium: install Chromium (or Chrome) yourself, or set AIPROD_CHROME to its path." >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "chromium: no Chromium or Chrome on PATH; the browser tests need one." >&2
	echo "chromium: installing it needs root: run 'sudo make chromium'" >&2
	echo "chromium: (or 'sudo apt-get install chromium'), or set AIPROD_CHROME to a Chrome's path." >&2
	exit 1
fi
echo "chromium: installing Debian's chromium package for the browser tests (apt-get, a few minutes)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
if ! p=$(command -v chromium); then
	echo "chromium: apt-get installed chromium, but it is not on PATH" >&2
	exit 1
fi
echo "chromium: installed $p"

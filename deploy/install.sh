#!/bin/sh
# Install RelayRoom and its pinned dependencies into a fresh virtualenv at PREFIX, from the source tree SRC
# (default: the current directory). The container image's build stage runs exactly this, and so does
# tests/deploy/test_dockerfile.py, so the image's install steps are exercised without a Docker daemon.
#   deploy/install.sh PREFIX [SRC]        PYTHON=python3.11 deploy/install.sh ...
set -eu
prefix=${1:?usage: deploy/install.sh PREFIX [SRC]}
src=${2:-.}
"${PYTHON:-python3}" -m venv "$prefix"
"$prefix/bin/python" -m pip install --quiet --upgrade pip
# A regular (not editable) install: the wheel carries the web assets and migrations as package data.
"$prefix/bin/python" -m pip install --quiet "$src"
# Fail here, not at the first start, if the installed package is incomplete.
"$prefix/bin/python" -c "import relayroom.control.app, relayroom.media.worker, relayroom.client, relayroom.media.native._fanout"
"$prefix/bin/relayroom" --help >/dev/null

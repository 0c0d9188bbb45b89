#!/bin/sh
# prove --exec wrapper: every test runs as its own process with a time limit
# (T_TIMEOUT seconds, default 600), binaries and scripts alike.
case "$1" in
*.sh) exec timeout -k 10 "${T_TIMEOUT:-600}" bash "$1" ;;
*) exec timeout -k 10 "${T_TIMEOUT:-600}" "$1" ;;
esac

#!/bin/sh
# The command (redis-server and its options) with this container's address and port added.
set -eu
exec "$@" --bind 127.0.0.1 --port "${REDIS_PORT:-6379}" --dir /data

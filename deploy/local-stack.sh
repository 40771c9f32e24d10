#!/usr/bin/env bash
# A production-like stack on one machine, without containers:
#   deploy/local-stack.sh start | stop | status
# Runs a private Redis, an S3 endpoint (moto in server mode), a GPU-queue worker (jobs in flight
# on threads, metrics on STACK_METRICS_PORT), a training worker (metrics on the next port), beat
# and Flower as background processes, on the machine's
# PostgreSQL (database upscaler_stack). State and logs: .stack/ in the checkout. After `start`,
# `source .stack/env` gives a shell the same settings, so `upscaler submit ...` talks to it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STACK=${STACK_DIR:-$ROOT/.stack}
BIN=$ROOT/.venv/bin
REDIS_PORT=${STACK_REDIS_PORT:-6391}
S3_PORT=${STACK_S3_PORT:-5019}
FLOWER_PORT=${STACK_FLOWER_PORT:-5565}
METRICS_PORT=${STACK_METRICS_PORT:-9818}
PG_HOST=${STACK_PG_HOST:-127.0.0.1}
PG_USER=${STACK_PG_USER:-postgres}
PG_DB=${STACK_PG_DB:-upscaler_stack}
SERVICES="redis s3 worker trainer beat flower"

pidfile() { echo "$STACK/$1.pid"; }
alive() { [ -f "$(pidfile "$1")" ] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }

launch() {  # name, command...: in its own session so `stop` can end it with its children
    local name=$1; shift
    if alive "$name"; then echo "$name already running"; return; fi
    setsid "$@" >"$STACK/$name.log" 2>&1 < /dev/null &
    echo $! >"$(pidfile "$name")"
}

wait_for() {  # description, command...
    local what=$1; shift
    for _ in $(seq 1 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    echo "timed out waiting for $what (logs in $STACK)" >&2; return 1
}

write_env() {
    cat >"$STACK/env" <<ENV
export UPSCALER_DATA_DIR=$STACK/data
export UPSCALER_DATABASE_URL=postgresql+psycopg://$PG_USER@$PG_HOST:5432/$PG_DB
export UPSCALER_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0
export UPSCALER_S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
export UPSCALER_FLOWER_BASIC_AUTH=\${UPSCALER_FLOWER_BASIC_AUTH:-ops:local-stack}
export UPSCALER_METRICS_PORT=$METRICS_PORT
export AWS_ACCESS_KEY_ID=\${AWS_ACCESS_KEY_ID:-local}
export AWS_SECRET_ACCESS_KEY=\${AWS_SECRET_ACCESS_KEY:-local}
export AWS_DEFAULT_REGION=\${AWS_DEFAULT_REGION:-us-east-1}
ENV
}

start() {
    mkdir -p "$STACK/data"
    [ -x "$BIN/upscaler" ] || { echo "run ./setup.sh first" >&2; exit 1; }
    if ! pg_isready -h "$PG_HOST" -q; then
        echo "PostgreSQL is not running on $PG_HOST: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
        exit 1
    fi
    psql -h "$PG_HOST" -U "$PG_USER" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1 \
        || psql -h "$PG_HOST" -U "$PG_USER" -d postgres -qc "CREATE DATABASE $PG_DB"
    write_env
    # shellcheck disable=SC1091
    source "$STACK/env"
    launch redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$STACK"
    launch s3 "$BIN/moto_server" -H 127.0.0.1 -p "$S3_PORT"
    wait_for redis redis-cli -p "$REDIS_PORT" ping
    wait_for "the S3 endpoint" curl -sf "http://127.0.0.1:$S3_PORT/"
    "$BIN/upscaler" db upgrade
    launch worker "$BIN/upscaler" worker --queues gpu --name "stack@$(hostname)"
    UPSCALER_METRICS_PORT=$((METRICS_PORT + 1)) launch trainer "$BIN/upscaler" worker --queues training \
        --name "stack-training@$(hostname)"
    launch beat "$BIN/upscaler" beat
    launch flower "$BIN/upscaler" flower --port "$FLOWER_PORT"
    wait_for "the worker" grep -q "ready." "$STACK/worker.log"
    wait_for "the training worker" grep -q "ready." "$STACK/trainer.log"
    wait_for "Flower" curl -sf -u "$UPSCALER_FLOWER_BASIC_AUTH" "http://127.0.0.1:$FLOWER_PORT/api/workers"
    echo "stack up: source $STACK/env; Flower http://127.0.0.1:$FLOWER_PORT; metrics http://127.0.0.1:$METRICS_PORT/metrics"
}

stop() {
    for name in flower beat trainer worker s3 redis; do
        if alive "$name"; then
            local pid; pid=$(cat "$(pidfile "$name")")
            kill -TERM -- "-$pid" 2>/dev/null || true
            for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        rm -f "$(pidfile "$name")"
    done
    echo "stack stopped"
}

status() {
    local down=0
    for name in $SERVICES; do
        if alive "$name"; then echo "$name: running (pid $(cat "$(pidfile "$name")"))"; else echo "$name: stopped"; down=1; fi
    done
    return $down
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Builds the container images and runs the whole compose stack on this machine with podman, then
# proves that it works, and tears it down:
#   deploy/verify.sh               everything (exit 0 when every check holds)
#   deploy/verify.sh --preflight   only whether containers can run here (exit 3 when they cannot)
# It builds deploy/Dockerfile.cpu and deploy/Dockerfile.worker (the worker's steps on a Debian base:
# no CUDA base here), stand-ins for the registry images (deploy/verify/standins/), runs
# deploy/docker-compose.yml with deploy/verify/compose.override.yml on top, applies the migrations,
# submits samples/ through the stack's own upscaler container, waits, and checks every job
# succeeded in PostgreSQL, every output image in S3, Flower with and without its password, the
# workers' metrics, every health check, and that every service is still up. See docs/operations.md.
# Environment: VERIFY_KEEP=1 leaves the stack up (tear down with the printed command);
# VERIFY_CPU_DOCKERFILE / VERIFY_WORKER_DOCKERFILE build other Dockerfiles; UPSCALER_WHEELHOUSE
# is where the wheels for the builds are kept (default: ~/.cache/material-upscaler/wheelhouse).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HERE=$ROOT/deploy/verify
PROJECT=upscaler-verify
BASE_IMAGE=localhost/upscaler-verify/debian:bookworm
PYTHON_IMAGE=localhost/upscaler-verify/python:3.11
CPU_IMAGE=localhost/material-upscaler:latest
WORKER_IMAGE=localhost/material-upscaler-worker:latest
CPU_DOCKERFILE=${VERIFY_CPU_DOCKERFILE:-$ROOT/deploy/Dockerfile.cpu}
WORKER_DOCKERFILE=${VERIFY_WORKER_DOCKERFILE:-$ROOT/deploy/Dockerfile.worker}
WHEELHOUSE=${UPSCALER_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/material-upscaler/wheelhouse}
MODEL=realesr-animevideov3   # the compact built-in model: seconds per sample on a CPU
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf}
STARTED=$SECONDS
PHASE_STARTED=$SECONDS

say() { printf '[verify %4ds] %s\n' "$((SECONDS - STARTED))" "$*" >&2; }
die() { printf 'verify.sh: %s\n' "$*" >&2; exit 1; }
cannot_run() { printf 'verify.sh: containers cannot run here: %s\n' "$*" >&2; exit 3; }
phase() { say "$1 (previous step: $((SECONDS - PHASE_STARTED)) s)"; PHASE_STARTED=$SECONDS; }

# ---- can containers run here? ----------------------------------------------------------------
preflight() {
    command -v podman >/dev/null || cannot_run "podman is not installed (Debian: apt-get install podman runc debootstrap; ./setup.sh does it when run as root)"
    command -v runc >/dev/null || cannot_run "runc is not installed (Debian: apt-get install runc): podman runs containers with it here (deploy/verify/containers.conf)"
    local info
    info=$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>&1) || cannot_run "podman does not work: $info"
    if ! podman image exists "$BASE_IMAGE"; then
        command -v debootstrap >/dev/null || cannot_run "debootstrap is not installed (Debian: apt-get install debootstrap): it makes the base image, as no registry is used"
        [ "$(id -u)" = 0 ] || cannot_run "the base image is made with debootstrap, which needs root"
        say "making the base image $BASE_IMAGE (debootstrap --variant=minbase bookworm)"
        local rootfs="$WORK/rootfs"
        debootstrap --variant=minbase bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
            >"$WORK/debootstrap.log" 2>&1 || die "debootstrap failed (log: $WORK/debootstrap.log): $(tail -n 3 "$WORK/debootstrap.log")"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        # As in Debian's own images: apt keeps no downloaded packages or package caches in a layer.
        cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT
        tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null 2>&1 \
            || die "podman import of the debootstrap tree failed"
        rm -rf "$rootfs"
    fi
    local out
    out=$(podman run --rm --network host "$BASE_IMAGE" true 2>&1) || cannot_run "podman could not start a container: $out"
}

# ---- images ------------------------------------------------------------------------------------
build() {  # image, base image, containerfile, context, podman build arguments...
    local image=$1 base=$2 file=$3 context=$4; shift 4
    local log="$WORK/build-${image##*/}.log"
    log=${log/:/-}
    say "building $image from ${file#"$ROOT"/}"
    # The wheelhouse is mounted, not copied: it never enters a layer, and the build arguments stay
    # the same from run to run, so that every unchanged layer is taken from the cache.
    if ! podman build --network host --format docker --layers -v "$WHEELHOUSE:/wheelhouse:ro" \
            --build-arg "BASE_IMAGE=$base" --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheelhouse \
            "$@" -f "$file" -t "$image" "$context" >"$log" 2>&1; then
        printf 'verify.sh: building %s from %s failed. The end of its log (all of it: %s):\n' "$image" "${file#"$ROOT"/}" "$log" >&2
        grep -v -e '^time=' -e '^STEP ' -e '^--> ' -e '^Error: building at STEP' "$log" | tail -n 12 | sed 's/^/    /' >&2
        exit 1
    fi
}

starts() {  # image: its `upscaler` command runs
    local out
    out=$(podman run --rm --network host "$1" --help 2>&1) \
        || die "the image $1 does not start: \`upscaler --help\` failed:$(printf '\n%s' "$out" | tail -n 6 | sed 's/^/    /')"
}

# ---- the stack ---------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

write_settings() {  # deploy/.env.example with this stack's addresses and fresh passwords
    local db_password flower_password s3_secret
    db_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    flower_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    s3_secret=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    FLOWER_AUTH="ops:$flower_password"
    declare -A set=(
        [POSTGRES_PASSWORD]=$db_password
        [UPSCALER_DATABASE_URL]="postgresql+psycopg://upscaler:$db_password@127.0.0.1:$VERIFY_POSTGRES_PORT/upscaler"
        [UPSCALER_BROKER_URL]="redis://127.0.0.1:$VERIFY_REDIS_PORT/0"
        [MINIO_ROOT_PASSWORD]=$s3_secret
        [AWS_SECRET_ACCESS_KEY]=$s3_secret
        [UPSCALER_S3_ENDPOINT_URL]="http://127.0.0.1:$VERIFY_S3_PORT"
        [EVENTS_QUEUE_URL]="http://127.0.0.1:$VERIFY_S3_PORT/123456789012/supplier-uploads"
        [UPSCALER_FLOWER_BASIC_AUTH]=$FLOWER_AUTH
    )
    local key line
    for key in "${!set[@]}"; do
        grep -q "^$key=" deploy/.env.example || die "deploy/.env.example has no $key any more: update deploy/verify.sh"
    done
    while IFS= read -r line; do
        key=${line%%=*}
        if [[ $line != \#* && $line == *=* && -v set[$key] ]]; then line="$key=${set[$key]}"; fi
        printf '%s\n' "$line"
    done <deploy/.env.example >"$VERIFY_ENV_FILE"
}

render_override() {  # deploy/verify/compose.override.yml with this run's ports and settings file
    local name expressions=()
    for name in VERIFY_ENV_FILE "${PORTS[@]}"; do expressions+=(-e "s|\${$name}|${!name}|g"); done
    sed "${expressions[@]}" "$HERE/compose.override.yml" >"$OVERRIDE"
    ! grep -n '^[^#]*\${VERIFY_' "$OVERRIDE" || die "compose.override.yml names a value verify.sh does not set (above)"
}

compose() {
    "$PODMAN_COMPOSE" --project-name "$PROJECT" --env-file "$VERIFY_ENV_FILE" \
        -f deploy/docker-compose.yml -f "$OVERRIDE" "$@"
}

container() { echo "${PROJECT}_$1_1"; }

up() {  # services...: started without their dependencies (started and waited for here, in order)
    compose up -d --no-build --no-deps "$@" >>"$WORK/compose.log" 2>&1 \
        || die "podman-compose could not start $* (log: $WORK/compose.log): $(grep -v '^time=' "$WORK/compose.log" | tail -n 5)"
}

healthy() {  # service, seconds: its health check passes within that time
    local name; name=$(container "$1")
    local deadline=$((SECONDS + $2))
    until podman healthcheck run "$name" >/dev/null 2>&1; do
        [ "$(podman inspect --format '{{.State.Status}}' "$name" 2>/dev/null)" = running ] \
            || die "$1 stopped: $(podman logs --tail 8 "$name" 2>&1)"
        [ $SECONDS -lt $deadline ] || die "$1 is not healthy after $2 s: $(podman logs --tail 8 "$name" 2>&1)"
        sleep 2
    done
}

completes() {  # service, seconds: a one-shot service exits 0 within that time
    local name; name=$(container "$1")
    local deadline=$((SECONDS + $2)) state
    while state=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$name"); [ "${state%% *}" != exited ]; do
        [ $SECONDS -lt $deadline ] || die "$1 has not finished after $2 s: $(podman logs --tail 8 "$name" 2>&1)"
        sleep 1
    done
    [ "${state#* }" = 0 ] || die "$1 failed (exit ${state#* }): $(podman logs --tail 12 "$name" 2>&1)"
}

in_image() {  # podman run arguments...: the CPU image with the stack's settings and the checks
    podman run --rm --network host --no-healthcheck --env-file "$VERIFY_ENV_FILE" -v "$HERE:/verify:ro" "$@"
}

teardown() {
    local status=$?
    set +e
    trap - EXIT
    if [ -n "${PODMAN_COMPOSE:-}" ] && [ -f "${OVERRIDE:-}" ]; then
        if [ $status != 0 ]; then
            mkdir -p "$WORK/logs"
            for name in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
                podman logs "$name" >"$WORK/logs/$name.log" 2>&1
            done
            say "FAILED; each container's log is in $WORK/logs"
        fi
        if [ "${VERIFY_KEEP:-}" = 1 ]; then
            say "left up: $PODMAN_COMPOSE --project-name $PROJECT --env-file $VERIFY_ENV_FILE -f deploy/docker-compose.yml -f $OVERRIDE down -v"
            exit $status
        fi
        say "tearing the stack down"
        compose down -v -t 30 >>"$WORK/compose.log" 2>&1
        local left
        left=$(podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT"; podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT")
        [ -z "$left" ] || { say "teardown left containers or volumes behind: $left"; status=1; }
    fi
    if [ $status = 0 ]; then rm -rf "$WORK"; fi
    exit $status
}

# ---- main ------------------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/upscaler-verify.XXXXXX")
# One run at a time on a machine: the stack's names, ports and images are shared.
exec 9>"${TMPDIR:-/tmp}/upscaler-verify.lock"
flock -n 9 || { say "another deploy/verify.sh is running; waiting for it"; flock 9; }
trap teardown EXIT

preflight
if [ "${1:-}" = --preflight ]; then say "containers can run here"; exit 0; fi
PODMAN_COMPOSE=${PODMAN_COMPOSE:-$(command -v "$ROOT/.venv/bin/podman-compose" podman-compose | head -n 1)}
[ -n "$PODMAN_COMPOSE" ] || die "podman-compose is not installed: ./setup.sh puts it in .venv (pip install podman-compose==1.6.0)"
command -v curl >/dev/null || die "curl is not installed (Debian: apt-get install curl)"
[ -x .venv/bin/python ] || die "run ./setup.sh first: the wheelhouse is made with the project's virtual environment"

phase "images"
mkdir -p "$WHEELHOUSE"
build "$PYTHON_IMAGE" "$BASE_IMAGE" "$HERE/standins/python.Containerfile" "$HERE/standins"
say "wheelhouse $WHEELHOUSE"
.venv/bin/python deploy/verify/wheelhouse.py "$WHEELHOUSE" "$PYTHON_IMAGE" "$CPU_DOCKERFILE" "$WORKER_DOCKERFILE" \
    "$HERE/standins/s3.Containerfile" >"$WORK/wheelhouse.log" 2>&1 \
    || die "could not fill the wheelhouse $WHEELHOUSE: $(grep -v '^WARNING: Location' "$WORK/wheelhouse.log" | tail -n 8)"
build localhost/upscaler-verify/postgres:15 "$BASE_IMAGE" "$HERE/standins/postgres.Containerfile" "$HERE/standins"
build localhost/upscaler-verify/redis:7 "$BASE_IMAGE" "$HERE/standins/redis.Containerfile" "$HERE/standins"
build localhost/upscaler-verify/s3:latest "$PYTHON_IMAGE" "$HERE/standins/s3.Containerfile" "$HERE/standins"
# The same TORCH_INDEX_URL for both (pip reads no index here): the two share every layer up to
# the worker's own steps.
build "$CPU_IMAGE" "$PYTHON_IMAGE" "$CPU_DOCKERFILE" "$ROOT" --build-arg TORCH_INDEX_URL=/wheelhouse
build "$WORKER_IMAGE" "$PYTHON_IMAGE" "$WORKER_DOCKERFILE" "$ROOT" --build-arg TORCH_INDEX_URL=/wheelhouse
starts "$CPU_IMAGE"
starts "$WORKER_IMAGE"

phase "the stack"
VERIFY_ENV_FILE=$WORK/stack.env
OVERRIDE=$WORK/compose.override.yml
PORTS=(VERIFY_REDIS_PORT VERIFY_POSTGRES_PORT VERIFY_S3_PORT VERIFY_FLOWER_PORT VERIFY_GPU_METRICS_PORT
       VERIFY_TRAINING_METRICS_PORT)
for port in "${PORTS[@]}"; do printf -v "$port" '%s' "$(free_port)"; done
write_settings
render_override
compose down -v -t 5 >"$WORK/compose.log" 2>&1 || true   # what an interrupted run left
# podman-compose with podman before 4.6 does not wait on health conditions: the stack comes up in
# the order the compose file's depends_on gives, each step waited for here.
up redis postgres minio
for service in redis postgres minio; do healthy "$service" 90; done
up minio-buckets
completes minio-buckets 60
phase "migrations"
up migrate
completes migrate 120
say "$(podman logs --tail 1 "$(container migrate)" 2>&1)"
up gpu-worker training-worker beat flower events
for service in gpu-worker training-worker; do healthy "$service" 240; done

phase "a batch of the samples"
in_image -v "$ROOT/samples:/samples:ro" --entrypoint python "$CPU_IMAGE" /verify/check_stack.py \
    upload /samples s3://supplier-bucket/verify/samples/ >&2 || die "could not put samples/ into the stack's S3"
count=$(find samples -type f -name '*.png' | wc -l)
submitted=$(timeout 600 "$PODMAN_COMPOSE" --project-name "$PROJECT" --env-file "$VERIFY_ENV_FILE" \
    -f deploy/docker-compose.yml -f "$OVERRIDE" run --rm --no-deps -T migrate submit s3://supplier-bucket/verify/samples/ --output s3://boards/verify/x4/ \
    --model "$MODEL" --wait --json 2>>"$WORK/compose.log") || die "submit --wait failed: $submitted"
batch=$(printf '%s' "$submitted" | grep -o '"batch_id": *"[0-9a-f-]*"' | grep -o '[0-9a-f-]\{36\}' | head -n 1) \
    || die "submit printed no batch id: $submitted"
say "batch $batch of $count samples finished"

phase "checks"
flower=http://127.0.0.1:$VERIFY_FLOWER_PORT/api/workers
for _ in $(seq 60); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$flower")" != 000 ] && break; sleep 1; done
in_image --entrypoint python "$CPU_IMAGE" /verify/check_stack.py jobs "$batch" "$count" >&2 \
    || die "the batch's jobs or outputs are not all there (above)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$flower")
[ "$code" = 401 ] || die "Flower answered $code without a password, not 401"
for node in gpu@gpu-worker training@training-worker; do   # ?refresh=1: Flower asks the workers now
    for _ in $(seq 10); do
        workers=$(curl -sf -u "$FLOWER_AUTH" "$flower?refresh=1") || die "Flower refused its own password"
        [[ $workers == *"\"$node\""* ]] && break
        sleep 3
    done
    [[ $workers == *"\"$node\""* ]] || die "Flower does not list the worker $node: $workers"
done
say "Flower: 401 without the password, both workers listed with it"
metrics=$(curl -sf "http://127.0.0.1:$VERIFY_GPU_METRICS_PORT/metrics") || die "the gpu worker serves no metrics"
grep -q "^upscaler_jobs_total{error_code=\"\",status=\"succeeded\"} $count.0$" <<<"$metrics" \
    || die "the gpu worker's metrics do not count $count succeeded jobs: $(grep '^upscaler_jobs_total' <<<"$metrics")"
for name in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
    read -r state restarts health < <(podman inspect --format '{{.State.Status}} {{.RestartCount}} {{if .Config.Healthcheck}}yes{{else}}no{{end}}' "$name")
    case $name in
        *minio-buckets*|*migrate*) [ "$state" = exited ] || die "$name: $state, expected to have finished" ;;
        *) [ "$state" = running ] && [ "$restarts" = 0 ] || die "$name: $state after $restarts restarts: $(podman logs --tail 8 "$name" 2>&1)"
           if [ "$health" = yes ]; then
               podman healthcheck run "$name" >/dev/null 2>&1 || die "$name: its health check fails: $(podman inspect --format '{{json .State.Health}}' "$name")"
               say "$name: running, healthy"
           else
               die "$name has no health check"
           fi ;;
    esac
done

phase "image sizes"
for image in "$CPU_IMAGE" "$WORKER_IMAGE" localhost/upscaler-verify/postgres:15 localhost/upscaler-verify/redis:7 \
        localhost/upscaler-verify/s3:latest; do
    say "$(printf '%-45s %6d MB' "$image" "$(( $(podman image inspect --format '{{.Size}}' "$image") / 1000000 ))")"
done
say "verified: $count samples through the stack in $((SECONDS - STARTED)) s"

#!/usr/bin/env bash
# Start a Docker engine (Debian docker.io) for the test suite and build its tiny test image.
#   bash ci/docker_up.sh         install if needed, start dockerd, build the image; a quick no-op when up
#   bash ci/docker_up.sh down    stop the dockerd this script started (by its PID file)
# Needs root. The engine listens on the default socket (unix:///var/run/docker.sock, or $DOCKER_HOST when
# that is a unix socket), so clients find it without any environment. No registry is reachable here:
# the test image is imported from a busybox-static rootfs. There is no docker0 bridge (--bridge=none):
# containers must use --network host or none. Knobs: DOCKER_WORK (data/exec/log dir, default
# /tmp/tao-automl-ci/docker-engine), DOCKER_SKIP_INSTALL=1 (no apt-get), TEST_IMAGE (default below).
set -euo pipefail

WORK=${DOCKER_WORK:-/tmp/tao-automl-ci/docker-engine}
case ${DOCKER_HOST:-} in
  unix://*) SOCK=${DOCKER_HOST#unix://} ;;
  "") SOCK=/var/run/docker.sock ;;
  *) echo "docker_up.sh: DOCKER_HOST=$DOCKER_HOST is not a unix socket; unset it or use unix://PATH" >&2; exit 2 ;;
esac
export DOCKER_HOST=unix://$SOCK
IMAGE=${TEST_IMAGE:-tao-automl-ci/busybox:static}

stop() {
  local pidfile=$WORK/dockerd.pid pid
  [[ -f $pidfile ]] || { echo "docker_up.sh: no dockerd started by this script"; return 0; }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "docker_up.sh: dockerd $pid still running after 15 s" >&2; exit 1; fi
  rm -f "$pidfile"
  # overlay mounts left under the work dir by containers that were still running
  awk -v w="$WORK" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
  echo "docker_up.sh: dockerd $pid stopped"
}

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if [[ ${1:-up} == down ]]; then stop; exit 0; fi
if [[ ${1:-up} != up ]]; then echo "usage: $0 [up|down]" >&2; exit 2; fi

build_image() {
  docker image inspect "$IMAGE" >/dev/null 2>&1 && return 0
  local busybox=/bin/busybox root
  if ! dpkg -s busybox-static >/dev/null 2>&1; then  # a dynamic busybox would not run in the empty image
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static >/dev/null
  fi
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp "$busybox" "$root/bin/busybox"
  for cmd in $("$root/bin/busybox" --list); do [[ $cmd == busybox ]] || ln -sf busybox "$root/bin/$cmd"; done
  echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - "$IMAGE" >/dev/null
  rm -rf "$root"
  echo "docker_up.sh: built $IMAGE"
}

# Fast path: an engine already answers (ours or the system's): only make sure the image exists.
if command -v docker >/dev/null && answers; then build_image; echo "docker_up.sh: an engine answers on $SOCK"; exit 0; fi

if [[ $(id -u) != 0 ]]; then echo "docker_up.sh: no Docker engine answers on $SOCK and not root" >&2; exit 1; fi
t0=$(date +%s.%N)
if [[ ${DOCKER_SKIP_INSTALL:-0} != 1 ]] && ! command -v dockerd >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io busybox-static >/dev/null
fi
t1=$(date +%s.%N)

mkdir -p "$WORK/data" "$WORK/exec" "$(dirname "$SOCK")"
# This sandbox has no CAP_SYS_RESOURCE: an OCI runtime wrapper clamps negative oom_score_adj to 0
# (plain containers never ask for one; kubelet's pod sandboxes do).
cat >"$WORK/runc-clamp-oom" <<'WRAP'
#!/bin/sh
bundle=""; cmd=""; prev=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle=$a ;; esac
  case "$a" in --bundle=*) bundle=${a#--bundle=} ;; create|run) [ -z "$cmd" ] && cmd=$a ;; esac
  prev=$a
done
if [ -n "$cmd" ] && [ -f "$bundle/config.json" ] && grep -q '"oomScoreAdj":-' "$bundle/config.json"; then
  sed -i 's/"oomScoreAdj":-[0-9]*/"oomScoreAdj":0/' "$bundle/config.json"
fi
exec runc "$@"
WRAP
chmod +x "$WORK/runc-clamp-oom"
rm -f "$SOCK"
# --bridge=none/--iptables=false: no docker0 and no private-range addresses; containers use host|none.
nohup dockerd --add-runtime ci-runc="$WORK/runc-clamp-oom" --default-runtime=ci-runc \
  --iptables=false --ip-masq=false --bridge=none --storage-driver=overlay2 \
  --data-root="$WORK/data" --exec-root="$WORK/exec" -H "unix://$SOCK" --pidfile="$WORK/dockerd.pid" \
  >"$WORK/dockerd.log" 2>&1 &
for _ in $(seq 150); do answers && break; sleep 0.2; done
if ! answers; then echo "docker_up.sh: dockerd did not answer in 30 s; log:" >&2; tail -20 "$WORK/dockerd.log" >&2; exit 1; fi
t2=$(date +%s.%N)
build_image
docker run --rm --network none "$IMAGE" echo "docker_up.sh: container ok" 
t3=$(date +%s.%N)
echo "docker_up.sh: dockerd $(docker version --format '{{.Server.Version}}') on unix://$SOCK (pid $(cat "$WORK/dockerd.pid")); install $(awk "BEGIN{print $t1-$t0}") s, start $(awk "BEGIN{print $t2-$t1}") s, image+check $(awk "BEGIN{print $t3-$t2}") s"

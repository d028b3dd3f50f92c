#!/usr/bin/env bash
# A real single-node Kubernetes 1.20 cluster on loopback for the test suite:
#   etcd (Debian etcd-server) + kube-apiserver + kube-controller-manager + kube-scheduler + a kubelet
#   that runs pods through its built-in dockershim on the Docker engine of ci/docker_up.sh.
# Binaries come from ci/k8s_build.sh (Debian's kubernetes source package, built with Debian's Go).
#   bash ci/k8s_up.sh          install/build what is missing, start the cluster; a quick no-op when it answers
#   bash ci/k8s_up.sh down     stop what this script started (by PID files)
# Then: export KUBECONFIG=$K8S_WORK/kubeconfig (default /tmp/tao-automl-ci/k8s/kubeconfig).
# Needs root; run ci/docker_up.sh first. Pods must use hostNetwork (there is no CNI), local images with
# imagePullPolicy Never (no registry), and a short terminationGracePeriodSeconds keeps deletes fast.
# Knobs: K8S_WORK, K8S_BIN, K8S_API_PORT (16443), K8S_ETCD_PORT (12379), K8S_KUBELET=0 (control plane only),
# K8S_NO_BUILD=1 (exit 3 instead of building missing binaries: the test fixture cannot wait 11 minutes).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${K8S_WORK:-/tmp/tao-automl-ci/k8s}
BIN=${K8S_BIN:-$WORK/bin}
SRC=${K8S_SRC:-$WORK/src}
ETCD_PORT=${K8S_ETCD_PORT:-12379}
API_PORT=${K8S_API_PORT:-16443}
TOKEN=${K8S_TOKEN:-tao-automl-ci-token}
KUBELET=${K8S_KUBELET:-1}
NODE=$(hostname -s | tr '[:upper:]' '[:lower:]')
KCFG=$WORK/kubeconfig
export K8S_WORK=$WORK K8S_BIN=$BIN K8S_SRC=$SRC
case ${DOCKER_HOST:-} in
  unix://*) DOCKER_SOCK=$DOCKER_HOST ;;
  *) DOCKER_SOCK=unix:///var/run/docker.sock ;;
esac

api() { curl -sfk --max-time 5 -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$API_PORT$1"; }
node_ready() {
  api "/api/v1/nodes/$NODE" 2>/dev/null | python3 -c 'import json, sys
c = json.load(sys.stdin)["status"].get("conditions") or []
sys.exit(0 if any(x["type"] == "Ready" and x["status"] == "True" for x in c) else 1)' 2>/dev/null
}
up_already() { api /readyz >/dev/null 2>&1 && { [[ $KUBELET != 1 ]] || node_ready; }; }

stop() {
  local had_kubelet=0
  [[ -f $WORK/run/kubelet.pid ]] && had_kubelet=1
  for p in kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do
    local f=$WORK/run/$p.pid pid
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$f"
    echo "k8s_up.sh: stopped $p ($pid)"
  done
  # our kubelet leaves its pods' containers in dockerd and bind mounts under its root dir
  if [[ $had_kubelet == 1 ]] && command -v docker >/dev/null; then
    ids=$(DOCKER_HOST=$DOCKER_SOCK docker ps -aq --filter label=io.kubernetes.pod.uid 2>/dev/null || true)
    [[ -z $ids ]] || DOCKER_HOST=$DOCKER_SOCK docker rm -f $ids >/dev/null 2>&1 || true
  fi
  awk -v w="$WORK/kubelet" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
}

if [[ ${1:-up} == down ]]; then stop; exit 0; fi
if [[ ${1:-up} != up ]]; then echo "usage: $0 [up|down]" >&2; exit 2; fi
if up_already; then echo "k8s_up.sh: cluster answers on https://127.0.0.1:$API_PORT"; echo "export KUBECONFIG=$KCFG"; exit 0; fi
if [[ $(id -u) != 0 ]]; then echo "k8s_up.sh: no cluster answers on port $API_PORT and not root" >&2; exit 1; fi

# a half-started cluster from before (a crash, a reboot of one part): start from a clean slate
stop >/dev/null
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
if [[ $KUBELET == 1 ]]; then
  command -v gcc >/dev/null || need+=(gcc)
  [[ -f /usr/lib/x86_64-linux-gnu/libc.a || -f /usr/lib/aarch64-linux-gnu/libc.a ]] || need+=(libc6-dev)
  for t in mount umount nsenter; do command -v $t >/dev/null || { need+=(mount util-linux); break; }; done
fi
if [[ ${#need[@]} -gt 0 ]]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cmds="kube-apiserver kube-controller-manager kube-scheduler"
[[ $KUBELET != 1 ]] || cmds="$cmds kubelet"
for c in $cmds; do
  [[ -x $BIN/$c || ${K8S_NO_BUILD:-0} != 1 ]] && continue
  echo "k8s_up.sh: $BIN/$c is not built and K8S_NO_BUILD=1: run bash ci/k8s_build.sh first (~11 min)" >&2
  exit 3
done
K8S_CMDS=$cmds bash "$HERE/k8s_build.sh"

# a fresh etcd each start: no stale node status (a Ready node before the kubelet is), no leftover jobs
rm -rf "$WORK/etcd"
mkdir -p "$WORK"/{run,log,pki,etcd}
t0=$(date +%s.%N)
start() {  # name cmd...: background it with a PID file and a log
  local name=$1; shift
  nohup "$@" >"$WORK/log/$name.log" 2>&1 &
  echo $! >"$WORK/run/$name.pid"
}
wait_for() {  # what tries command...
  local what=$1 tries=$2; shift 2
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "k8s_up.sh: $what did not come up; last log lines:" >&2
  tail -20 "$WORK/log/$what.log" >&2
  exit 1
}

# service-account signing key and a static admin token
[[ -f $WORK/pki/sa.key ]] || {
  openssl genrsa -out "$WORK/pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$WORK/pki/sa.key" -pubout -out "$WORK/pki/sa.pub" 2>/dev/null
}
echo "$TOKEN,admin,admin,system:masters" >"$WORK/pki/tokens.csv"

start etcd etcd --name tao-ci --data-dir "$WORK/etcd" --unsafe-no-fsync \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "tao-ci=http://127.0.0.1:$((ETCD_PORT + 1))"
wait_for etcd 100 curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" -o /dev/null

start kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port="$API_PORT" --insecure-port=0 \
  --cert-dir="$WORK/pki" --token-auth-file="$WORK/pki/tokens.csv" --authorization-mode=RBAC \
  --service-account-key-file="$WORK/pki/sa.pub" --service-account-signing-key-file="$WORK/pki/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range="${K8S_SERVICE_CIDR:-10.254.0.0/24}" \
  --disable-admission-plugins=ServiceAccount --allow-privileged=true \
  --enable-priority-and-fairness=false --profiling=false --endpoint-reconciler-type=none
wait_for kube-apiserver 300 api /readyz
t1=$(date +%s.%N)

cat >"$KCFG" <<KC
apiVersion: v1
kind: Config
clusters:
- name: tao-ci
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$WORK/pki/apiserver.crt"}
users:
- name: admin
  user: {token: "$TOKEN"}
contexts:
- name: tao-ci
  context: {cluster: tao-ci, user: admin, namespace: default}
current-context: tao-ci
KC

start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$KCFG" --leader-elect=false \
  --bind-address=127.0.0.1 --port=0 --secure-port=0 --use-service-account-credentials=false \
  --service-account-private-key-file="$WORK/pki/sa.key"
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$KCFG" --leader-elect=false \
  --bind-address=127.0.0.1 --port=0 --secure-port=0

if [[ $KUBELET == 1 ]]; then
  DOCKER_HOST=$DOCKER_SOCK docker version >/dev/null 2>&1 || {
    echo "k8s_up.sh: no Docker engine answers on $DOCKER_SOCK: run ci/docker_up.sh first" >&2; exit 1; }
  # the pod sandbox ("pause") image cannot be pulled: build it from Kubernetes' own pause.c
  if ! DOCKER_HOST=$DOCKER_SOCK docker image inspect tao-automl-ci/pause:3.2 >/dev/null 2>&1; then
    pause_c=$SRC/kubernetes-1.20.2/build/pause/linux/pause.c
    [[ -f $pause_c ]] || bash "$HERE/k8s_build.sh" source
    tmp=$(mktemp -d)
    gcc -Os -static -o "$tmp/pause" "$pause_c"
    tar -C "$tmp" -c pause | DOCKER_HOST=$DOCKER_SOCK docker import -c 'ENTRYPOINT ["/pause"]' - tao-automl-ci/pause:3.2 >/dev/null
    rm -rf "$tmp"
  fi
  mkdir -p "$WORK/kubelet"
  cat >"$WORK/kubelet/config.yaml" <<KC
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
staticPodPath: ""
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
KC
  start kubelet "$BIN/kubelet" --config="$WORK/kubelet/config.yaml" --kubeconfig="$KCFG" \
    --hostname-override="$NODE" --node-ip=127.0.0.1 --container-runtime=docker --docker-endpoint="$DOCKER_SOCK" \
    --pod-infra-container-image=tao-automl-ci/pause:3.2 --root-dir="$WORK/kubelet/root" \
    --cert-dir="$WORK/kubelet/pki" --register-node=true --v=1
  wait_for kubelet 150 api "/api/v1/nodes/$NODE"
  # the kubelet refuses a loopback node IP and publishes no address, so the API server could not reach
  # it for logs; publish 127.0.0.1 ourselves (the kubelet leaves it alone)
  curl -sfk -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/merge-patch+json' \
    -d "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"},{\"type\":\"Hostname\",\"address\":\"$NODE\"}]}}" \
    "https://127.0.0.1:$API_PORT/api/v1/nodes/$NODE/status" -o /dev/null
  wait_for kubelet 150 node_ready
fi
t2=$(date +%s.%N)
echo "k8s_up.sh: $(api /version | python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])') up; \
apiserver ready $(awk "BEGIN{print $t1-$t0}") s, all up $(awk "BEGIN{print $t2-$t0}") s"
echo "export KUBECONFIG=$KCFG"

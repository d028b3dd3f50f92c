#!/usr/bin/env bash
# Build real Kubernetes binaries for the test suite from Debian's own `kubernetes` source package
# (1.20.5+really1.20.2: the full upstream tree with vendor/) using Debian's Go — nothing is
# downloaded from outside the Debian archive.
#   bash ci/k8s_build.sh          build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet
#                                 into $K8S_BIN; a quick no-op when they are all there already
#   bash ci/k8s_build.sh source   only fetch and unpack the source tree (pause.c for the pod sandbox image)
# Needs root (apt-get). About 11 minutes cold on 2 idle cores. Concurrent runs wait for each other (flock).
# Knobs: K8S_WORK (default /tmp/tao-automl-ci/k8s), K8S_BIN ($K8S_WORK/bin), K8S_SRC ($K8S_WORK/src), K8S_CMDS.
set -euo pipefail
WORK=${K8S_WORK:-/tmp/tao-automl-ci/k8s}
OUT=${K8S_BIN:-$WORK/bin}
SRC=${K8S_SRC:-$WORK/src}
CMDS=${K8S_CMDS:-kube-apiserver kube-controller-manager kube-scheduler kubelet}
VERSION=1.20.2
TREE=$SRC/kubernetes-$VERSION
MODE=${1:-build}
case $MODE in build|source) ;; *) echo "usage: $0 [build|source]" >&2; exit 2 ;; esac

missing() { local c; for c in $CMDS; do [[ -x $OUT/$c ]] || echo "$c"; done; }
if [[ $MODE == build && -z $(missing) ]]; then echo "k8s_build.sh: $CMDS already in $OUT"; exit 0; fi
if [[ $MODE == source && -d $TREE ]]; then echo "k8s_build.sh: source in $TREE"; exit 0; fi
mkdir -p "$WORK" "$OUT" "$SRC"
exec 9>"$WORK/build.lock"
flock 9  # a second build (another test run, another shell) waits here instead of racing in the same tree
if [[ $MODE == build && -z $(missing) ]]; then echo "k8s_build.sh: $CMDS already in $OUT"; exit 0; fi

apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
if ! command -v go >/dev/null || ! command -v rsync >/dev/null || ! command -v make >/dev/null; then
  apt-get update -qq
  apt_install golang-go rsync make gcc libc6-dev dpkg-dev
fi

if [[ ! -d $TREE ]]; then
  if [[ -z $(apt-cache showsrc kubernetes 2>/dev/null) ]]; then
    # deb-src entry for the running Debian release (the package's source is in main)
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    cat > /etc/apt/sources.list.d/tao-automl-ci-debsrc.sources <<SRCS
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRCS
    apt-get update -qq
  fi
  (cd "$SRC" && { apt-get source --download-only "kubernetes=1.20.5+really$VERSION*" >/dev/null 2>&1 \
     || apt-get source --download-only kubernetes >/dev/null; } && tar xzf kubernetes_*.orig.tar.gz)
  [[ -d $TREE ]] || { echo "k8s_build.sh: expected $TREE after unpacking the source package" >&2; exit 1; }
fi
if [[ $MODE == source ]]; then echo "k8s_build.sh: source in $TREE"; exit 0; fi
cd "$TREE"

# 1.20 vendors modern-go/reflect2 v1.0.1, which crashes under Go >= 1.18 (json-iterator
# "fatal error: fault" in mapiterinit); swap in Debian's packaged reflect2 (1.0.2+).
if ! ls vendor/github.com/modern-go/reflect2 | grep -q go_above_118; then
  [[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ]] || apt_install golang-github-modern-go-reflect2-dev
  rm -rf vendor/github.com/modern-go/reflect2
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
  rm -f vendor/github.com/modern-go/reflect2/go.mod
fi

# GOPATH-mode build, as debian/rules does it
mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
todo=$(missing | tr '\n' ' ')
t0=$(date +%s)
env HOME=/tmp GOPATH="$PWD/.go" CGO_ENABLED=0 GOPROXY=off GOFLAGS= \
  KUBE_GIT_VERSION=v$VERSION KUBE_GIT_TREE_STATE=clean KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 \
  make WHAT="$(printf 'cmd/%s ' $todo)"
for c in $todo; do install -m 0755 "_output/bin/$c" "$OUT/$c"; done
echo "k8s_build.sh: built $todo in $(( $(date +%s) - t0 )) s into $OUT"

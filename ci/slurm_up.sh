#!/usr/bin/env bash
# Start a single-node Slurm (Debian slurm-wlm, munge, no cgroups, no systemd) for the test suite.
#   bash ci/slurm_up.sh         install if needed, configure, start; a quick no-op when already up
#   bash ci/slurm_up.sh down    stop the daemons this script started (by their PID files)
# Also installs openssh (the tests start their own sshd on 127.0.0.1 to test Slurm over ssh).
# Needs root. Knobs: SLURM_WORK (state/log dir, default /tmp/tao-automl-ci/slurm),
# SLURM_CPUS (CPUs the node advertises, default max(nproc, 2)), SLURM_SKIP_INSTALL=1 (no apt).
# Without slurmdbd, finished jobs are kept by the controller for MinJobAge and in a jobcomp text
# file that `sacct -c` reads.
set -euo pipefail

WORK=${SLURM_WORK:-/tmp/tao-automl-ci/slurm}
CONF=/etc/slurm/slurm.conf
NODE=$(hostname -s)
NPROC=$(nproc)
CPUS=${SLURM_CPUS:-$(( NPROC < 2 ? 2 : NPROC ))}
MEM_MB=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 1024 ))
(( MEM_MB < 1024 )) && MEM_MB=1024

stop() {
  for daemon in slurmd slurmctld munged; do
    pidfile=$WORK/$daemon.pid
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$pidfile"
  done
}

node_state() { sinfo -h -n "$NODE" -o %t 2>/dev/null || true; }

if [[ ${1:-up} == down ]]; then stop; echo "slurm_up: stopped"; exit 0; fi
if [[ $(id -u) != 0 ]]; then echo "slurm_up: must run as root" >&2; exit 2; fi

# Already running (scontrol answers and the node is usable): nothing to do.
if command -v scontrol >/dev/null && scontrol ping 2>/dev/null | grep -q 'is UP' \
    && [[ $(node_state) =~ ^(idle|mix|alloc) ]]; then
  echo "slurm_up: already running"; exit 0
fi

t0=$(date +%s.%N)
if [[ ${SLURM_SKIP_INSTALL:-0} != 1 ]] && { ! command -v slurmctld >/dev/null || [[ ! -x /usr/sbin/sshd ]]; }; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurm-wlm slurmctld slurmd slurm-client munge openssh-client openssh-server >/dev/null
fi
t1=$(date +%s.%N)

stop  # stale daemons from an earlier, half-started run
mkdir -p "$WORK"/{state,spool,log} /etc/slurm

# munge: the Debian package normally generated the key already
if [[ ! -s /etc/munge/munge.key ]]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$WORK/munged.pid"
fi

cat > "$CONF" <<EOF
# written by ci/slurm_up.sh (tao-run-automl test cluster)
ClusterName=taoci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ReturnToService=2
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/log/jobcomp.txt
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# the node may advertise more CPUs than the machine has (tests need 2 slots on a 1-core box)
SlurmdParameters=config_overrides
DefMemPerCPU=256
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

/usr/sbin/slurmctld -i
/usr/sbin/slurmd

st=
for _ in $(seq 150); do
  st=$(node_state)
  [[ $st == idle ]] && break
  sleep 0.2
done
t2=$(date +%s.%N)
echo "slurm_up: install $(awk "BEGIN{print $t1-$t0}") s, start $(awk "BEGIN{print $t2-$t1}") s," \
  "node $NODE cpus=$CPUS state=$st"
[[ $st == idle ]]

#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost for the SLURM integration tests.
#
# Usage: .ci/slurm-cluster.sh install|start|stop|status|restart
#
#   install   Debian packages slurmctld, slurmd, slurm-client, munge (idempotent; runs
#             `apt-get update` first). Needs root; nothing starts by itself (no systemd here).
#   start     munged (as user munge), slurm.conf + gres.conf in /etc/slurm, slurmctld and slurmd;
#             waits until node `localhost` is idle. Partitions: `cpu` (default) and `gpu`, the
#             latter with a fake GRES gpu:1 backed by /dev/null so jobs see CUDA_VISIBLE_DEVICES=0.
#   stop      scontrol shutdown, then end munged by its pid file.
#   status    one line per daemon plus `sinfo`; exit 0 only when the node answers.
#
# Environment:
#   SLURM_NO_GPU=1        start without GresTypes and without the `gpu` partition (a cluster
#                         without GPUs: GPU requests must be rejected at submission).
#   SLURM_START_TIMEOUT   seconds to wait for the node to become idle (default 60).
#   SLURM_CPUS, SLURM_MEM_MB   node size (default: online CPUs, 20000 MB capped at 80 % of RAM).
#
# Facts this relies on are in ../shared/docs/slurm-notes.md (checked on Debian 12, root, no systemd).
set -euo pipefail

CONF_DIR=/etc/slurm
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm
MUNGE_PID=/run/munge/munged.pid
START_TIMEOUT=${SLURM_START_TIMEOUT:-60}

log() { echo "slurm-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, writes $CONF_DIR)"; }

cmd_install() {
  need_root
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
     && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    log "packages already installed"
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Other jobs on the machine may hold the dpkg lock for a while: wait for it rather than fail.
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
  command -v slurmctld >/dev/null || die "slurmctld missing after install"
  log "installed: $(slurmctld -V)"
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_ok; then return 0; fi
  [[ -s /etc/munge/munge.key ]] || die "/etc/munge/munge.key missing: run '$0 install' first"
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 1 50); do munge_ok && return 0; sleep 0.2; done
  die "munged did not answer (check /var/log/munge/munged.log)"
}

node_memory_mb() {
  if [[ -n ${SLURM_MEM_MB:-} ]]; then echo "$SLURM_MEM_MB"; return; fi
  local total_kb
  total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  local cap=$(( total_kb / 1024 * 8 / 10 ))
  (( cap < 20000 )) && echo "$cap" || echo 20000
}

write_config() {
  local cpus=${SLURM_CPUS:-$(getconf _NPROCESSORS_ONLN)} mem  # not nproc: it obeys OMP_NUM_THREADS
  mem=$(node_memory_mb)
  install -d -m 0755 "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
  local gres_types="" node_gres="" gpu_partition=""
  if [[ ${SLURM_NO_GPU:-0} != 1 ]]; then
    gres_types="GresTypes=gpu"
    node_gres="Gres=gpu:1"
    gpu_partition="PartitionName=gpu Nodes=localhost Default=NO MaxTime=INFINITE State=UP"
  fi
  cat >"$CONF_DIR/slurm.conf" <<EOF
# Written by .ci/slurm-cluster.sh: single-node test cluster on localhost.
ClusterName=reconstudy-ci
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default a job that gives no --mem would take the whole node.
DefMemPerCPU=1000
ReturnToService=2
# Reject at submission what no node/partition can ever run (instead of pending forever).
EnforcePartLimits=ALL
# Finished jobs stay visible to squeue/scontrol this long; the profile's status command is
# squeue (no slurmdbd here), which needs MinJobAge >= 3x the first status-check delay.
MinJobAge=300
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
$gres_types
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem $node_gres State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
$gpu_partition
EOF
  if [[ -n $node_gres ]]; then
    # A fake GPU: the device file only has to exist; jobs get CUDA_VISIBLE_DEVICES=0.
    echo "NodeName=localhost Name=gpu File=/dev/null" >"$CONF_DIR/gres.conf"
  else
    rm -f "$CONF_DIR/gres.conf"
  fi
}

node_state() { timeout 10 sinfo -h -N -n localhost -o %t 2>/dev/null | head -n1; }

cmd_start() {
  need_root
  command -v slurmctld >/dev/null || die "SLURM is not installed: run '$0 install' first"
  if [[ $(node_state) == idle* || $(node_state) == mix* ]]; then
    log "already running; use '$0 restart' to rewrite the configuration"
    return 0
  fi
  start_munge
  write_config
  # -c: clear saved state (jobs/partitions of an earlier run); -i: ignore state errors.
  slurmctld -c -i
  for _ in $(seq 1 50); do timeout 5 scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
  slurmd -N localhost
  local waited=0 state=""
  while (( waited < START_TIMEOUT * 5 )); do
    state=$(node_state)
    case $state in
      idle*|mix*|alloc*) log "node localhost is $state; partitions: $(sinfo -h -o %P | tr '\n' ' ')"; return 0 ;;
      down*|drain*) scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
    waited=$(( waited + 1 ))
  done
  tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
  die "node localhost not idle after ${START_TIMEOUT}s (state: '${state:-no answer}')"
}

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

cmd_stop() {
  need_root
  if command -v scontrol >/dev/null; then
    timeout 10 scontrol shutdown >/dev/null 2>&1 || true
  fi
  # Wait for the daemons to exit (zombies count as gone: nothing reaps them here).
  local pid
  for f in /run/slurmctld.pid /run/slurmd.pid; do
    pid=$(cat "$f" 2>/dev/null || true)
    for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.2; done
    if pid_alive "$pid"; then log "pid $pid from $f still alive; sending TERM"; kill "$pid" || true; fi
    rm -f "$f"
  done
  pid=$(cat "$MUNGE_PID" 2>/dev/null || true)
  if pid_alive "$pid"; then kill "$pid" || true; fi
  for _ in $(seq 1 25); do pid_alive "$pid" || break; sleep 0.2; done
  log "stopped"
}

cmd_status() {
  local rc=0
  if munge_ok; then echo "munged: ok"; else echo "munged: not answering"; rc=1; fi
  if timeout 5 scontrol ping 2>/dev/null | grep -q UP; then echo "slurmctld: up"; else echo "slurmctld: down"; rc=1; fi
  local state
  state=$(node_state)
  echo "node localhost: ${state:-no answer}"
  [[ -n $state ]] || rc=1
  if (( rc == 0 )); then timeout 5 sinfo; fi
  return $rc
}

case ${1:-} in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|stop|restart|status" >&2; exit 2 ;;
esac

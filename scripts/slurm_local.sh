#!/usr/bin/env bash
# Prove cluster execution on one machine: install and start a single-node SLURM (Debian's slurm-wlm
# and munge; slurmctld and slurmd on localhost), run the smoke scale through it with
# `--workflow-profile profiles/slurm`, and check that the jobs really went through sbatch.
#
#   bash scripts/slurm_local.sh [WORKDIR]      # as root (apt-get, daemons); a user runs it, not CI
#   SLURM_LOCAL_KEEP=1 bash scripts/slurm_local.sh   # leave the daemons and the config running afterwards
#
# WORKDIR (default: a new temporary folder) receives a git copy of this checkout, so the run never
# touches the checkout's results/ or reports/. The profile's resources are the paper-scale ones
# (train asks for 10 CPUs, 32 GB and a GPU); this machine has no GPU and fewer cores, so the node is
# declared as a stand-in (SlurmdParameters=config_overrides): CPUs and memory at least what the
# profile asks, and a count-only `gpu` GRES that the scheduler accepts without a device. The smoke
# jobs themselves are tiny and run on CPU; --jobs caps how many run at once.
# Prints a result line: `slurm_local: N jobs through sbatch (M checked with scontrol), wall S s`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-$(mktemp -d /tmp/attriflow-slurm.XXXXXX)}"
JOBS="${SLURM_LOCAL_JOBS:-2}"
HOST="$(hostname -s)"
CONF=/etc/slurm/slurm.conf
MARK="# written by attriflow scripts/slurm_local.sh"

say() { printf 'slurm_local: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# On exit, stop the daemons this script started and remove the config it wrote, unless SLURM_LOCAL_KEEP=1:
# a slurm.conf naming a controller that is not running makes every `scontrol` (and so every snakemake
# start, whose SLURM plugin asks `scontrol show config`) wait 10 s for a timeout.
STARTED_MUNGED=0 STARTED_SLURM=0
cleanup() {
    [ "${SLURM_LOCAL_KEEP:-0}" = 1 ] && { say "SLURM_LOCAL_KEEP=1: leaving slurmctld, slurmd and $CONF in place"; return; }
    if [ "$STARTED_SLURM" = 1 ]; then
        for d in slurmd slurmctld; do
            [ -s "/run/slurm/$d.pid" ] && kill "$(cat "/run/slurm/$d.pid")" 2>/dev/null || true
        done
    fi
    [ "$STARTED_MUNGED" = 1 ] && pkill -x munged 2>/dev/null || true
    for f in "$CONF" /etc/slurm/gres.conf; do
        [ -e "$f" ] && grep -qF "$MARK" "$f" && rm -f "$f"
    done
    return 0
}
trap cleanup EXIT

# 1. Packages.
if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    [ "$(id -u)" = 0 ] || die "slurm-wlm and munge are not installed; run as root so apt-get can install them"
    say "installing slurm-wlm and munge with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
fi
command -v snakemake >/dev/null || die "snakemake is not on PATH: activate the project's venv first"

# 2. munge (authentication between the daemons and the clients).
if ! munge -n </dev/null >/dev/null 2>&1; then
    say "starting munged"
    [ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || create-munge-key -f; }
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
    chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
    STARTED_MUNGED=1
    for _ in $(seq 20); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.5; done
    munge -n </dev/null >/dev/null 2>&1 || die "munged did not start (see /var/log/munge/munged.log)"
fi

# 3. slurm.conf: one node (this machine, declared at least as large as the profile's biggest job), two
#    partitions named as in profiles/slurm (cpu, default; gpu), no accounting.
if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to overwrite a real cluster's config"
fi
read -r CPUS MEM < <(slurmd -C | awk '/^NodeName/ {for (i=1;i<=NF;i++) {split($i,a,"="); v[a[1]]=a[2]}; print v["CPUs"], v["RealMemory"]}')
# the largest cpus_per_task the profile asks (train: 8 DataLoader workers + 2), else a job never starts
NEED=$(grep -o 'cpus_per_task: *[0-9]*' "$ROOT/profiles/slurm/config.yaml" | awk '{print $2}' | sort -n | tail -1)
NEED=${NEED:-8}
CPUS=$(( CPUS > NEED ? CPUS : NEED ))
MEM=$(( MEM > 32000 ? MEM : 32000 ))
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
cat > "$CONF" <<EOF
$MARK
ClusterName=attriflow-local
SlurmctldHost=$HOST
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=3600
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
# A GPU GRES needs a device file (slurmd drops file-less GPUs); /dev/null stands in, nothing opens it.
printf '%s\nAutoDetect=off\nNodeName=%s Name=gpu File=/dev/null\n' "$MARK" "$HOST" > /etc/slurm/gres.conf

# 4. Daemons (restarted so they read the config above; only the ones this script started, by pid file),
#    stopped again on exit together with the config (see cleanup).
for d in slurmctld slurmd; do
    if [ -s "/run/slurm/$d.pid" ] && kill -0 "$(cat "/run/slurm/$d.pid")" 2>/dev/null; then
        pid="$(cat "/run/slurm/$d.pid")"
        kill "$pid"
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
done
say "starting slurmctld and slurmd on $HOST ($CPUS CPUs, $MEM MB, gpu:1 declared)"
STARTED_SLURM=1
/usr/sbin/slurmctld
/usr/sbin/slurmd
for _ in $(seq 60); do
    state="$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)"
    case "$state" in idle*|mix*|alloc*) break ;; esac
    sleep 1
done
case "$state" in idle*|mix*|alloc*) ;; *) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true; sleep 2 ;; esac
sinfo -h -n "$HOST" -o %T | grep -qE 'idle|mix|alloc' || die "node $HOST is not up: $(sinfo -N -l); see /var/log/slurm/"

# 5. A git copy of the checkout (tracked and new files, nothing ignored), then the smoke run.
say "copying the checkout to $WORK"
mkdir -p "$WORK"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$WORK" 2>/dev/null || true)
(cd "$WORK" && git init -q && git add -A && git -c user.name=slurm_local -c user.email=slurm@localhost commit -qm snapshot)
cd "$WORK"
export PYTHONPATH="$WORK/src${PYTHONPATH:+:$PYTHONPATH}"
say "running the smoke scale through SLURM (logs: $WORK/slurm_local.log)"
start=$(date +%s)
snakemake reports/all --configfile config/smoke.yaml --workflow-profile profiles/slurm \
    --jobs "$JOBS" --slurm-keep-successful-logs --slurm-init-seconds-before-status-checks 5 \
    >"$WORK/slurm_local.log" 2>&1 || { tail -40 "$WORK/slurm_local.log" >&2; die "snakemake failed"; }
wall=$(( $(date +%s) - start ))

# 6. Did the jobs go through sbatch? Every submission snakemake reports must have a SLURM job id that
#    slurmctld ran to exit status 0: scontrol while it keeps the record (MinJobAge), else slurmctld's log.
mapfile -t ids < <(grep -oE 'submitted with SLURM jobid [0-9]+' "$WORK/slurm_local.log" | grep -oE '[0-9]+$' | sort -un)
[ "${#ids[@]}" -gt 0 ] || die "no job was submitted through sbatch (see $WORK/slurm_local.log)"
checked=0 gpu=0
for id in "${ids[@]}"; do
    if scontrol show job "$id" 2>/dev/null | grep -q "JobState=COMPLETED" \
        || grep -q "_job_complete: JobId=$id WEXITSTATUS 0" /var/log/slurm/slurmctld.log; then
        checked=$((checked + 1))
    fi
    grep -qE "Allocate JobId=$id .*Partition=gpu|Started JobId=$id in gpu " /var/log/slurm/slurmctld.log && gpu=$((gpu + 1))
done
logs=$(find "$WORK/.snakemake/slurm_logs" -name '*.log' 2>/dev/null | wc -l)
say "${#ids[@]} jobs through sbatch ($checked completed with exit 0 in slurmctld, $gpu in the gpu partition, $logs SLURM log files), wall ${wall} s"
[ "$checked" -eq "${#ids[@]}" ] || die "some submitted jobs did not complete in slurmctld (see /var/log/slurm/slurmctld.log)"
test -s reports/all && test -s reports/index.html || die "reports/all or reports/index.html was not built"
echo "slurm_local: ${#ids[@]} jobs through sbatch ($checked completed in slurmctld, $gpu on the gpu partition), wall ${wall} s, load average $(cut -d' ' -f1-3 /proc/loadavg), workdir $WORK"

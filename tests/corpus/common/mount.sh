# Mounting and unmounting lockfs for scripts/check and the corpus tests (sourced by both).
# A mount is started in the foreground (-f) in the background, so its pid is known; the pid
# is kept in $CHECK_TMPDIR/daemon.<label>.pid so the runner can unmount and reap mounts a test
# made itself. Daemon logs go to $CHECK_TMPDIR/daemon.<label>.log (appended to NNN.full).

# True when `mnt` is a mount point (of anything).
_lockfs_is_mounted() {
  local mnt
  mnt=$(realpath -m "$1")
  awk -v m="$mnt" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# _lockfs_mount MNT LABEL "opt,opt" : mounts a fresh lockfs (validate=$LOCKFS_VALIDATE,
# trace=on, $LOCKFS_MOUNT_OPTS, then the given options, later ones win) and waits until the
# mount is visible. Under LOCKFS_FSTYP=tmpfs it mounts tmpfs (size=/nr_inodes= kept).
_lockfs_mount() {
  local mnt=$1 label=$2 opts=$3 pid i
  local log=$CHECK_TMPDIR/daemon.$label.log pidfile=$CHECK_TMPDIR/daemon.$label.pid
  mkdir -p "$mnt"
  if _lockfs_is_mounted "$mnt"; then
    echo "_lockfs_mount: $mnt is already mounted" >&2
    return 1
  fi
  local all="validate=${LOCKFS_VALIDATE:-strict},trace=on"
  [[ -n ${LOCKFS_MOUNT_OPTS:-} ]] && all+=",$LOCKFS_MOUNT_OPTS"
  [[ -n $opts ]] && all+=",$opts"
  if [[ ${LOCKFS_FSTYP:-lockfs} == tmpfs ]]; then
    local o keep="mode=1777"
    IFS=, read -ra o <<<"$all"
    for i in "${o[@]}"; do [[ $i == size=* || $i == nr_inodes=* ]] && keep+=",$i"; done
    echo "0 $mnt" >"$pidfile"
    mount -t tmpfs -o "$keep" "lockfs-$label" "$mnt"
    return
  fi
  # Its own session: the runner's clean-up of a test's process group must not kill it.
  setsid "$LOCKFS" lockfs "$mnt" -f -o "$all" </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid $mnt" >"$pidfile"
  for ((i = 0; i < 200; i++)); do
    _lockfs_is_mounted "$mnt" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      echo "_lockfs_mount: lockfs exited before mounting $mnt (status $?):" >&2
      cat "$log" >&2
      rm -f "$pidfile"
      return 1
    fi
    sleep 0.05
  done
  echo "_lockfs_mount: $mnt did not appear within 10s" >&2
  kill "$pid" 2>/dev/null
  return 1
}

# Waits (10s at most) for a daemon to exit; reaps it when it is our child.
_lockfs_wait_exit() {
  local pid=$1 i state
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)
    if [[ $state == Z ]]; then wait "$pid" 2>/dev/null; return 0; fi
    sleep 0.05
  done
  return 1
}

# _lockfs_umount LABEL : unmounts the mount of that label and waits for its daemon to exit.
# Returns non-zero if the unmount was refused (busy) or the daemon did not exit.
_lockfs_umount() {
  local label=$1 pidfile=$CHECK_TMPDIR/daemon.$1.pid pid mnt i rc=0
  [[ -f $pidfile ]] || return 0
  read -r pid mnt <"$pidfile"
  if [[ ${LOCKFS_FSTYP:-lockfs} == tmpfs ]]; then
    umount "$mnt" 2>/dev/null || { umount -l "$mnt"; rc=1; }
    rm -f "$pidfile"
    return $rc
  fi
  if _lockfs_is_mounted "$mnt"; then
    for ((i = 0; i < 50; i++)); do
      fusermount3 -u "$mnt" 2>/dev/null && break
      sleep 0.1
    done
    if _lockfs_is_mounted "$mnt"; then
      echo "_lockfs_umount: $mnt busy; lazy unmount" >&2
      fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
      rc=1
    fi
  fi
  if ! _lockfs_wait_exit "$pid"; then
    echo "_lockfs_umount: daemon $pid of $mnt did not exit; killing it" >&2
    kill -9 "$pid" 2>/dev/null
    _lockfs_wait_exit "$pid"
    rc=1
  fi
  rm -f "$pidfile"
  return $rc
}

# Unmounts every mount recorded in $CHECK_TMPDIR (and the tmpfs ones of tmpfs mode).
_lockfs_umount_all() {
  local f rc=0 label
  for f in "$CHECK_TMPDIR"/daemon.*.pid; do
    [[ -f $f ]] || continue
    label=${f##*/daemon.}
    label=${label%.pid}
    _lockfs_umount "$label" || rc=1
  done
  if [[ ${LOCKFS_FSTYP:-lockfs} == tmpfs ]]; then
    for f in "$TEST_DIR" "$SCRATCH_MNT"; do _lockfs_is_mounted "$f" && umount -l "$f"; done
  fi
  return $rc
}

#!/bin/sh
# rota on Synology DSM 7: started at boot by a Task Scheduler task (docs/synology.md), not
# an rc script, which DSM 6.1+ does not run reliably and updates may reset. Lives in
# <volume>/@rota/ beside bin/, etc/, state/ and log/, so a DSM update loses nothing.
#   rota-boot.sh start|stop|restart|status
# start detaches a loop (setsid) that runs the daemon and restarts it after a crash,
# backing off from 10 s to 5 min; the log goes to log/rota.log, copied aside to
# log/rota.log.1 at 10 MiB (copy then truncate: the daemon keeps its file open).
set -eu

ROOT=$(cd "$(dirname "$0")" && pwd)
BIN=$ROOT/bin/rota
CONFIG=$ROOT/etc/rota.toml
LOG=$ROOT/log/rota.log
PIDFILE=/run/rota/rota.pid
LINK=/usr/local/bin/rota
MAX_LOG_BYTES=10485760

running_pid() {
	if [ -f "$PIDFILE" ]; then
		pid=$(cat "$PIDFILE")
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			echo "$pid"
			return 0
		fi
	fi
	return 1
}

rotate_log() {
	if [ -f "$LOG" ] && [ "$(wc -c <"$LOG")" -ge "$MAX_LOG_BYTES" ]; then
		cp "$LOG" "$LOG.1"
		: >"$LOG"
	fi
}

# Sleeps in the background so that a TERM is handled at once, not after the sleep.
pause() {
	sleep "$1" &
	sleeper=$!
	wait "$sleeper" || true
	sleeper=""
}

loop() {
	echo $$ >"$PIDFILE"
	stopping=0
	child=""
	sleeper=""
	# The size is checked every minute beside the daemon, not only when it restarts.
	(while :; do
		sleep 60
		rotate_log
	done) </dev/null >/dev/null 2>&1 &
	rotator=$!
	trap 'stopping=1; kill -TERM $child $sleeper 2>/dev/null || true' TERM INT
	delay=10
	while [ "$stopping" = 0 ]; do
		rotate_log
		started=$(date +%s)
		echo "rota-boot: starting $BIN daemon" >>"$LOG"
		"$BIN" daemon --config "$CONFIG" >>"$LOG" 2>&1 &
		child=$!
		code=0
		wait "$child" || code=$?
		# A trapped signal ends the wait early: wait again until the daemon has finished stopping.
		while kill -0 "$child" 2>/dev/null; do
			code=0
			wait "$child" || code=$?
		done
		child=""
		if [ "$stopping" = 1 ]; then break; fi
		# A daemon that ran a while before it died starts the back-off over.
		if [ $(($(date +%s) - started)) -ge 300 ]; then delay=10; fi
		echo "rota-boot: the daemon exited with $code; restarting in ${delay}s" >>"$LOG"
		pause "$delay"
		delay=$((delay * 2))
		if [ "$delay" -gt 300 ]; then delay=300; fi
	done
	kill "$rotator" 2>/dev/null || true
	rm -f "$PIDFILE"
}

start() {
	if pid=$(running_pid); then
		echo "rota is running (pid $pid)"
		return 0
	fi
	mkdir -p /run/rota "$ROOT/log"
	: >>"$LOG"
	# The symlink lives on the system partition, which updates may reset.
	ln -sf "$BIN" "$LINK"
	setsid "$0" _loop </dev/null >/dev/null 2>&1 &
	i=0
	while [ $i -lt 50 ]; do
		if pid=$(running_pid); then
			echo "rota started (pid $pid), log: $LOG"
			return 0
		fi
		sleep 0.1 2>/dev/null || sleep 1
		i=$((i + 1))
	done
	echo "rota-boot: the loop did not start; see $LOG" >&2
	return 1
}

stop() {
	if ! pid=$(running_pid); then
		echo "rota is not running"
		return 0
	fi
	kill -TERM "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		if [ $i -ge 300 ]; then
			echo "rota-boot: pid $pid did not stop within 30 s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1 2>/dev/null || sleep 1
		i=$((i + 1))
	done
	rm -f "$PIDFILE"
	echo "rota stopped"
}

case ${1:-} in
start) start ;;
stop) stop ;;
restart) stop && start ;;
status)
	if pid=$(running_pid); then
		echo "rota is running (pid $pid)"
	else
		echo "rota is not running"
		exit 3
	fi
	;;
_loop) loop ;;
*)
	echo "usage: $0 start|stop|restart|status" >&2
	exit 2
	;;
esac

#!/bin/sh
# rota installer: curl -fsSL <base>/install.sh | sh -s -- [options]
# Picks the build for this machine, verifies it against SHA256SUMS, runs it once before
# anything is written, then installs the binary, the config folders and a hardened
# systemd unit (or, on Synology DSM 7, the volume layout and boot script of
# docs/synology.md). POSIX sh: runs under dash and busybox ash. docs/install.md has more.
# Exit codes: 0 ok (also --dry-run), 1 failure, 2 usage or unsupported platform,
# 3 the download was refused (checksum, or it does not run here).
set -eu

# Where releases are published; ROTA_BASE_URL (http(s)://, file:// or an absolute folder)
# overrides it. SHA256SUMS comes from the same place: it catches a corrupted download or a
# tampered mirror, not a compromised origin. A release build writes its own location here
# (`bun scripts/build-binary.ts --release --base-url=URL`); this placeholder, under the
# reserved .example domain, is refused (exit 2) rather than fetched.
PLACEHOLDER_BASE_URL="https://rota.example/releases/latest"
DEFAULT_BASE_URL="https://rota.example/releases/latest"

BASE_URL=${ROTA_BASE_URL:-$DEFAULT_BASE_URL}
WANT_VERSION=""
PREFIX=/usr/local
SVC_USER=rota
NO_SERVICE=0
DSM_VOLUME=/volume1
DRY_RUN=0
UNINSTALL=0
PURGE=0
YES=0
TMP=""
MADE=""
USER_MADE=0
STOPPED=0
REMOVED=""

usage() {
	cat <<'EOF'
usage: install.sh [--version X] [--prefix DIR] [--user NAME] [--no-service]
                  [--dsm-volume /volumeN] [--dry-run] [--uninstall [--purge]] [--yes]
EOF
}

help() {
	usage
	cat <<EOF

Installs rota, verified against SHA256SUMS, with a hardened systemd unit (or, on
Synology DSM 7, the layout of docs/synology.md). curl -fsSL <base>/install.sh | sh -s -- [options]

options:
  --version X             the release to install (default: <base>/VERSION)
  --prefix DIR            the binary goes to DIR/bin/rota (default: /usr/local)
  --user NAME             the service user, created as a system user (default: rota)
  --no-service            no unit: print how to start rota instead
  --dsm-volume /volumeN   Synology DSM: the volume for @rota/ (default: /volume1)
  --dry-run               print each action, change nothing
  --uninstall             remove the unit, the binary and the DSM boot script; keep the
                          config (/etc/rota) and the state (/var/lib/rota)
  --purge                 with --uninstall: also delete the config and the state (keys,
                          audit database), and the user named rota (the default, or
                          --user rota) with its files under /etc/ssl/rota kept and given
                          to root; any other user (--user nobody) and its files are kept
  --yes                   confirm --purge without a terminal
  -h, --help              this text

environment:
  ROTA_BASE_URL   where the release is: an http(s):// URL, a file:// URL or an absolute
                  folder. This install.sh's default: $DEFAULT_BASE_URL
EOF
	if [ "$DEFAULT_BASE_URL" = "$PLACEHOLDER_BASE_URL" ]; then
		say "                  (a placeholder: this build names no release location, so ROTA_BASE_URL is required)"
	fi
	cat <<'EOF'
  TMPDIR          where the download is put and run once (default: /tmp); it must
                  allow running programs (not mounted noexec)

exit codes:
  0  done (also --dry-run)
  1  failure: I/O, the service, a config the new version rejects
  2  usage, or a platform rota does not support
  3  the download was refused: a checksum mismatch, or it does not run here
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf 'install.sh: %s\n' "$*" >&2; }
die() {
	code=$1
	shift
	warn "$*"
	exit "$code"
}

cleanup() {
	if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

need_value() {
	if [ "$2" -lt 2 ]; then
		usage >&2
		die 2 "$1 needs a value"
	fi
}

while [ $# -gt 0 ]; do
	case $1 in
	--version) need_value "$1" $#; WANT_VERSION=$2; shift ;;
	--prefix) need_value "$1" $#; PREFIX=$2; shift ;;
	--user) need_value "$1" $#; SVC_USER=$2; shift ;;
	--dsm-volume) need_value "$1" $#; DSM_VOLUME=$2; shift ;;
	--no-service) NO_SERVICE=1 ;;
	--dry-run) DRY_RUN=1 ;;
	--uninstall) UNINSTALL=1 ;;
	--purge) PURGE=1 ;;
	--yes) YES=1 ;;
	-h | --help) help; exit 0 ;;
	*) usage >&2; die 2 "unknown option $1" ;;
	esac
	shift
done

# Spelled out, not as ranges: a range in a pattern may follow the locale's collation.
LOWER=abcdefghijklmnopqrstuvwxyz
UPPER=ABCDEFGHIJKLMNOPQRSTUVWXYZ
DIGITS=0123456789

# The portable user name of useradd(8): [a-z_][a-z0-9_-]*[$]?, at most 32 characters.
valid_user() {
	case $1 in "" | [!"$LOWER"_]* | *[!"$LOWER$DIGITS"_\$-]* | *\$?*) return 1 ;; esac
	[ ${#1} -le 32 ]
}

# Digits and dots (1.2.3), then an optional -suffix of letters, digits, dots and dashes: it
# becomes part of a URL and a file name.
valid_version() {
	core=${1%%-*}
	case $core in "" | .* | *. | *..* | *[!"$DIGITS".]*) return 1 ;; esac
	case ${1#"$core"} in "") return 0 ;; - | -*[!"$LOWER$UPPER$DIGITS".-]*) return 1 ;; esac
}

if [ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ]; then die 2 "--purge goes with --uninstall"; fi
case $PREFIX in /*) ;; *) die 2 "--prefix must be an absolute folder, not $PREFIX" ;; esac
# The unit's ExecStart= and a sed replacement take the folder as it is: no space, quote,
# backslash, $, % (a systemd specifier) or other character a shell or systemd reads.
case $PREFIX in *[!"$LOWER$UPPER$DIGITS"/._+-]*) die 2 "--prefix may hold letters, digits and / . _ + - only, not $PREFIX" ;; esac
if ! valid_user "$SVC_USER"; then die 2 "--user must be a portable user name ([a-z_][a-z0-9_-]*, \$ at the end allowed, at most 32 characters), not $SVC_USER"; fi
if [ -n "$WANT_VERSION" ] && ! valid_version "$WANT_VERSION"; then die 2 "--version must look like 1.2.3 or 1.2.3-rc.1, not $WANT_VERSION"; fi
case ${DSM_VOLUME#/volume} in "$DSM_VOLUME" | "" | *[!"$DIGITS"]*) die 2 "--dsm-volume must look like /volume1, not $DSM_VOLUME" ;; esac
BINDIR=$PREFIX/bin

# Runs a command, or under --dry-run says it would.
run() {
	if [ "$DRY_RUN" = 1 ]; then
		say "would run $*"
	else
		"$@"
	fi
}

# --- 1. Detect -------------------------------------------------------------------------

detect() {
	os=$(uname -s)
	if [ "$os" != Linux ]; then die 2 "$os is not supported: rota runs on Linux only"; fi
	machine=$(uname -m)
	case $machine in
	x86_64 | amd64) ARCH=x64; MUSL_ARCH=x86_64; GLIBC_LOADER=/lib64/ld-linux-x86-64.so.2 ;;
	aarch64 | arm64) ARCH=arm64; MUSL_ARCH=aarch64; GLIBC_LOADER=/lib/ld-linux-aarch64.so.1 ;;
	armv7l | armv6l | armv7* | i386 | i486 | i586 | i686) die 2 "32-bit $machine is not supported: Bun, which rota is built on, has no 32-bit builds" ;;
	*) die 2 "the $machine architecture is not supported" ;;
	esac

	LIBC=glibc
	if { ldd --version 2>&1 || true; } | grep -qi musl; then
		LIBC=musl
	elif [ -e "/lib/ld-musl-$MUSL_ARCH.so.1" ] && [ ! -e "$GLIBC_LOADER" ]; then
		LIBC=musl
	fi
	if [ "$LIBC" = musl ]; then
		if ! has_lib libstdc++.so.6 || ! has_lib libgcc_s.so.1; then
			die 2 "rota on musl needs libstdc++ and libgcc: apk add libstdc++ libgcc"
		fi
	fi

	TARGET=linux-$ARCH
	if [ "$LIBC" = musl ]; then TARGET=$TARGET-musl; fi
	if [ "$ARCH" = x64 ] && ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then TARGET=$TARGET-baseline; fi

	DSM=0
	if [ -f /etc.defaults/VERSION ]; then
		major=$(sed -n 's/^majorversion="\{0,1\}\([0-9]*\)"\{0,1\}$/\1/p' /etc.defaults/VERSION)
		if [ -z "$major" ] || [ "$major" -lt 7 ]; then die 2 "Synology DSM ${major:-of unknown version} is not supported: rota needs DSM 7"; fi
		DSM=1
	fi
	SYSTEMD=0
	if [ -d /run/systemd/system ]; then SYSTEMD=1; fi
}

has_lib() {
	for dir in /lib /usr/lib /usr/local/lib; do
		if [ -e "$dir/$1" ]; then return 0; fi
	done
	return 1
}

# Paths: the usual ones, or everything on the data volume on DSM (docs/synology.md).
layout() {
	if [ "$DSM" = 1 ]; then
		DSM_ROOT=$DSM_VOLUME/@rota
		BIN=$DSM_ROOT/bin/rota
		CONFIG_DIR=$DSM_ROOT/etc
		STATE_DIR=$DSM_ROOT/state
		CERT_DIR=$DSM_ROOT/certs
		BOOT_SCRIPT=$DSM_ROOT/rota-boot.sh
		LINK=/usr/local/bin/rota
		# DSM has no system users outside its own user database: the daemon runs as root.
		SVC_USER=root
	else
		BIN=$BINDIR/rota
		CONFIG_DIR=/etc/rota
		STATE_DIR=/var/lib/rota
		CERT_DIR=/etc/ssl/rota
	fi
	CONFIG=$CONFIG_DIR/rota.toml
	UNIT=/etc/systemd/system/rota.service
}

# --- 2. Fetch and verify ---------------------------------------------------------------

# fetch NAME DEST: from the base URL, by curl, wget or a plain copy.
fetch() {
	if [ "$BASE_URL" = "$PLACEHOLDER_BASE_URL" ]; then
		die 2 "this install.sh names no release location (a build without --base-url): set ROTA_BASE_URL to the release folder (docs/install.md)"
	fi
	case $BASE_URL in
	http://* | https://*)
		if command -v curl >/dev/null 2>&1; then
			curl -fsSL -o "$2" "$BASE_URL/$1"
		elif command -v wget >/dev/null 2>&1; then
			wget -q -O "$2" "$BASE_URL/$1"
		else
			die 1 "neither curl nor wget is installed"
		fi
		;;
	file://*) cp "${BASE_URL#file://}/$1" "$2" ;;
	/*) cp "$BASE_URL/$1" "$2" ;;
	*) die 2 "ROTA_BASE_URL must be an http(s):// or file:// URL or an absolute folder, not $BASE_URL" ;;
	esac
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	elif command -v openssl >/dev/null 2>&1; then
		openssl dgst -sha256 "$1" | sed 's/^.*= *//'
	else
		die 1 "neither sha256sum nor openssl is installed to verify the download"
	fi
}

fetch_and_verify() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/rota-install.XXXXXX")
	if [ -z "$WANT_VERSION" ]; then
		fetch VERSION "$TMP/VERSION" || die 1 "cannot read $BASE_URL/VERSION"
		WANT_VERSION=$(tr -d ' \r\n' <"$TMP/VERSION")
		if ! valid_version "$WANT_VERSION"; then die 3 "$BASE_URL/VERSION does not hold a version ($(head -c 40 "$TMP/VERSION")); nothing was installed"; fi
	fi
	NAME=rota-$WANT_VERSION-$TARGET
	if [ "$DRY_RUN" = 1 ]; then
		say "would download $BASE_URL/$NAME and $BASE_URL/SHA256SUMS"
		say "would verify $NAME against SHA256SUMS and run it: rota version --json"
		return
	fi
	fetch SHA256SUMS "$TMP/SHA256SUMS" || die 1 "cannot download $BASE_URL/SHA256SUMS; nothing was installed"
	fetch_verified "$NAME" "$TMP/rota"
	chmod 0755 "$TMP/rota"
	# The companions this install writes, verified alike before anything is: the unit and the
	# boot script run as root.
	fetch_verified rota.toml.example "$TMP/rota.toml.example.raw"
	if [ "$DSM" = 1 ]; then
		fetch_verified rota-boot.sh "$TMP/rota-boot.sh"
	elif [ "$SYSTEMD" = 1 ] && [ "$NO_SERVICE" = 0 ]; then
		fetch_verified rota.service.in "$TMP/rota.service.in"
	fi
}

# fetch_verified NAME DEST: downloaded, and its SHA-256 the one SHA256SUMS gives NAME.
fetch_verified() {
	fetch "$1" "$2" || die 1 "cannot download $BASE_URL/$1; nothing was installed"
	# sha256sum -c takes either case of hex and CRLF lines (a file saved on Windows); so does this.
	expected=$(tr -d '\r' <"$TMP/SHA256SUMS" | awk -v n="$1" '$2 == n || $2 == "*" n { print tolower($1); exit }')
	got=$(sha256_of "$2")
	if [ -z "$expected" ] || [ "$expected" != "$got" ]; then
		die 3 "SHA-256 mismatch for $1: expected ${expected:-no entry in SHA256SUMS}, got $got; nothing was installed"
	fi
}

# --- 3. Smoke test ---------------------------------------------------------------------

# Runs the command with a 10 s limit; its output in $TMP/out.
within_10s() {
	if command -v timeout >/dev/null 2>&1; then
		timeout 10 "$@" >"$TMP/out" 2>&1 </dev/null
		return
	fi
	"$@" >"$TMP/out" 2>&1 </dev/null &
	pid=$!
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1 2>/dev/null || sleep 1
		i=$((i + 1))
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid"
}

smoke_test() {
	if [ "$DRY_RUN" = 1 ]; then return; fi
	if within_10s "$TMP/rota" version --json &&
		grep -q "\"version\":\"$WANT_VERSION\"" "$TMP/out" && grep -q "\"target\":\"$TARGET\"" "$TMP/out"; then
		return
	fi
	if ! can_exec_in_tmp; then
		die 1 "cannot run programs in ${TMP%/*} (mounted noexec?): set TMPDIR to a folder that allows it, e.g. TMPDIR=/var/tmp; nothing was installed"
	fi
	die 3 "the downloaded rota does not run here (kernel $(uname -r), expected rota $WANT_VERSION for $TARGET): $(head -c 300 "$TMP/out"); nothing was installed"
}

# A two-line script beside the download runs: false on a noexec mount, where the download's
# failure says nothing about the binary.
can_exec_in_tmp() {
	printf '#!/bin/sh\nexit 0\n' >"$TMP/exec-probe"
	chmod 0755 "$TMP/exec-probe"
	"$TMP/exec-probe" 2>/dev/null
}

# --- 4. Check the existing config ------------------------------------------------------

check_config() {
	if [ ! -f "$CONFIG" ]; then return; fi
	if [ "$DRY_RUN" = 1 ]; then
		say "would check $CONFIG with the new rota"
		return
	fi
	# The service's environment (Environment= or EnvironmentFile= in any drop-in, or what
	# DSM's boot task sets) is not this shell's: an unset *_env variable is a warning here.
	if ! "$TMP/rota" check-config --allow-unset-env --config "$CONFIG" >"$TMP/out" 2>&1 </dev/null; then
		cat "$TMP/out" >&2
		die 1 "rota $WANT_VERSION rejects $CONFIG (above); nothing was changed"
	fi
	grep '^warning: ' "$TMP/out" >&2 || true
}

# --- 5. Install ------------------------------------------------------------------------

ensure_user() {
	if [ "$SVC_USER" = root ] || id "$SVC_USER" >/dev/null 2>&1; then return; fi
	if [ "$DRY_RUN" = 1 ]; then
		say "would create the system user $SVC_USER"
		return
	fi
	if command -v useradd >/dev/null 2>&1 &&
		useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$SVC_USER" 2>/dev/null; then
		USER_MADE=1
		return
	fi
	# busybox adduser -S without -G puts the user in nogroup: its own group first.
	if command -v adduser >/dev/null 2>&1 && command -v addgroup >/dev/null 2>&1 &&
		{ grep -q "^$SVC_USER:" /etc/group 2>/dev/null || addgroup -S "$SVC_USER" 2>/dev/null; } &&
		adduser -S -D -H -G "$SVC_USER" -s /sbin/nologin "$SVC_USER" 2>/dev/null; then
		USER_MADE=1
		return
	fi
	warn "could not create the user $SVC_USER (no useradd or busybox adduser): rota will run as root"
	SVC_USER=root
}

# The service user's primary group: the one useradd --user-group or addgroup made, or, for
# an existing user such as nobody, whatever it is (nogroup).
primary_group() {
	id -gn "$SVC_USER" 2>/dev/null || printf '%s\n' "$SVC_USER"
}

# make_dir DIR OWNER MODE; the topmost folder it creates goes into MADE, for fail_install.
make_dir() {
	if [ "$DRY_RUN" = 1 ]; then
		if [ -d "$1" ]; then say "would set $1 to ($3, $2)"; else say "would create $1 ($3, $2)"; fi
		return
	fi
	if [ ! -d "$1" ]; then
		top=$1
		while [ -n "${top%/*}" ] && [ ! -e "${top%/*}" ]; do top=${top%/*}; done
		mkdir -p "$1" || fail_install "cannot create $1"
		MADE="$top
$MADE"
	fi
	chown "$2" "$1" || fail_install "cannot give $1 to $2"
	chmod "$3" "$1" || fail_install "cannot set $1 to mode $3"
}

# write_file SRC DEST OWNER MODE: next to DEST first, then renamed into place.
write_file() {
	if [ "$DRY_RUN" = 1 ]; then
		say "would write $2 ($4, $3)"
		return
	fi
	if ! { cp "$1" "$2.new.$$" && chown "$3" "$2.new.$$" && chmod "$4" "$2.new.$$" && mv -f "$2.new.$$" "$2"; }; then
		rm -f "$2.new.$$"
		fail_install "cannot write $2 ($4, $3)"
	fi
}

# A step of the install failed: undo what this run made (folders, the user), start again a
# service it stopped, and exit 1. The binary moves in by a rename: it is the old one or the new.
fail_install() {
	warn "$1"
	printf '%s\n' "$MADE" | while IFS= read -r made; do
		if [ -n "$made" ]; then rm -rf "$made"; fi
	done
	undone="the folders it created"
	if [ "$USER_MADE" = 1 ]; then
		if command -v userdel >/dev/null 2>&1; then userdel "$SVC_USER" 2>/dev/null || true; else deluser "$SVC_USER" 2>/dev/null || true; fi
		if grep -q "^$SVC_USER:" /etc/group 2>/dev/null; then delgroup "$SVC_USER" 2>/dev/null || true; fi
		undone="$undone and the user $SVC_USER"
	fi
	if [ "$STOPPED" = 1 ]; then service start || true; fi
	die 1 "the install stopped there; this run removed $undone and changed nothing else"
}

# The example config, with the DSM paths in place of the usual ones there.
example_config() {
	if [ "$DRY_RUN" = 1 ]; then
		: >"$TMP/rota.toml.example"
		return
	fi
	sed -e "s|/var/lib/rota|$STATE_DIR|g" -e "s|/etc/ssl/rota|$CERT_DIR|g" -e "s|/etc/rota/|$CONFIG_DIR/|g" \
		"$TMP/rota.toml.example.raw" >"$TMP/rota.toml.example"
}

install_files() {
	group=$(primary_group)
	if [ "$DSM" = 1 ]; then
		make_dir "$DSM_ROOT" root:root 0755
		make_dir "$DSM_ROOT/bin" root:root 0755
		make_dir "$DSM_ROOT/log" root:root 0750
	else
		make_dir "$BINDIR" root:root 0755
	fi
	make_dir "$CONFIG_DIR" "root:$group" 0750
	make_dir "$STATE_DIR" "$SVC_USER:$group" 0700
	make_dir "$CERT_DIR" "$SVC_USER:$group" 0755
	example_config
	if [ -f "$CONFIG" ]; then
		write_file "$TMP/rota.toml.example" "$CONFIG.example" "root:$group" 0640
	else
		write_file "$TMP/rota.toml.example" "$CONFIG" "root:$group" 0640
	fi
}

# --- 6. Service ------------------------------------------------------------------------

service() {
	if [ "$DSM" = 1 ]; then
		if [ -x "$BOOT_SCRIPT" ]; then run "$BOOT_SCRIPT" "$@"; fi
	else
		run systemctl "$@" rota
	fi
}

# What the init system says of the service, for a message.
service_state() {
	if [ "$DSM" = 1 ]; then
		if "$BOOT_SCRIPT" status >/dev/null 2>&1; then echo "rota-boot.sh status: running"; else echo "rota-boot.sh status: not running"; fi
	else
		printf 'systemctl is-active rota: %s' "$(systemctl is-active rota 2>/dev/null || true)"
	fi
}

# The daemon answers `rota status` within 10 s.
wait_for_daemon() {
	i=0
	while [ $i -lt 20 ]; do
		if "$BIN" status --config "$CONFIG" >/dev/null 2>&1 </dev/null; then return 0; fi
		sleep 0.5 2>/dev/null || sleep 1
		i=$((i + 1))
	done
	return 1
}

swap_binary() {
	UPGRADE=0
	if [ -e "$BIN" ]; then UPGRADE=1; fi
	# A binary installed by hand, or with --no-service, has no unit or boot script to stop.
	managed=0
	if [ "$NO_SERVICE" = 0 ] && { { [ "$DSM" = 1 ] && [ -x "$BOOT_SCRIPT" ]; } || { [ "$SYSTEMD" = 1 ] && [ -f "$UNIT" ]; }; }; then managed=1; fi
	if [ "$UPGRADE" = 1 ] && [ "$managed" = 1 ]; then
		service stop || true
		STOPPED=1
	fi
	if [ "$UPGRADE" = 1 ] && [ "$DRY_RUN" = 0 ]; then cp -p "$BIN" "$TMP/rota.previous"; fi
	write_file "$TMP/rota" "$BIN" root:root 0755
	if [ "$DSM" = 1 ]; then
		write_file "$TMP/rota-boot.sh" "$BOOT_SCRIPT" root:root 0755
		if [ "$DRY_RUN" = 1 ]; then say "would link $LINK to $BIN"; else ln -sf "$BIN" "$LINK"; fi
	fi
}

start_service() {
	if [ "$NO_SERVICE" = 1 ]; then
		say "--no-service: start it with: $BIN daemon --config $CONFIG"
		return
	fi
	if [ "$DSM" = 0 ] && [ "$SYSTEMD" = 0 ]; then
		say "no systemd here: run rota from your init system (OpenRC, runit, …) as user $SVC_USER:"
		say "  $BIN daemon --config $CONFIG"
		return
	fi
	if [ "$DSM" = 0 ]; then
		if [ ! -d "${UNIT%/*}" ]; then make_dir "${UNIT%/*}" root:root 0755; fi
		if [ "$DRY_RUN" = 1 ]; then
			say "would write $UNIT (0644, root:root)"
		else
			sed -e "s|^Group=@USER@\$|Group=$(primary_group)|" -e "s|@USER@|$SVC_USER|g" -e "s|@BINDIR@|$(dirname "$BIN")|g" "$TMP/rota.service.in" >"$TMP/rota.service"
			write_file "$TMP/rota.service" "$UNIT" root:root 0644
		fi
		run systemctl daemon-reload
		if [ "$UPGRADE" = 1 ]; then
			run systemctl enable rota
			service start
		else
			run systemctl enable --now rota
		fi
	else
		service start
	fi
	if [ "$DRY_RUN" = 1 ] || wait_for_daemon; then return; fi
	how="journalctl -u rota -n 20"
	if [ "$DSM" = 1 ]; then how="tail -n 20 $DSM_ROOT/log/rota.log"; fi
	if [ "$UPGRADE" = 1 ]; then
		warn "rota $WANT_VERSION did not start; putting the previous binary back"
		service stop || true
		write_file "$TMP/rota.previous" "$BIN" root:root 0755
		service start || true
		if wait_for_daemon; then
			die 1 "the upgraded daemon failed to start; the previous rota runs again. See: $how"
		fi
		die 1 "the upgraded daemon failed to start; the previous binary is back in $BIN but does not answer either ($(service_state)). See: $how"
	fi
	die 1 "the daemon did not start; see: $how"
}

dsm_steps() {
	cat <<EOF
To start rota at boot (DSM keeps this task across updates):
  1. Control Panel → Task Scheduler → Create → Triggered Task → User-defined script.
  2. General: task "rota", user "root", event "Boot-up".
  3. Task Settings → Run command: $BOOT_SCRIPT start
EOF
}

# --- Uninstall -------------------------------------------------------------------------

# Whether --purge deletes the service user: only the user named rota (the default, or --user
# rota); another one given with --user (nobody, www-data) was there before rota and may run
# other things.
purges_user() {
	[ "$DSM" = 0 ] && [ "$SVC_USER" = rota ] && id "$SVC_USER" >/dev/null 2>&1
}

confirm_purge() {
	if [ "$YES" = 1 ]; then return; fi
	if [ -t 2 ] && { : </dev/tty; } 2>/dev/null; then
		user=""
		if purges_user; then user=" and the user $SVC_USER"; fi
		printf 'Delete %s and %s (keys, audit database)%s? [y/N] ' "$CONFIG_DIR" "$STATE_DIR" "$user" >&2
		read -r answer </dev/tty || answer=""
		case $answer in y | Y | yes) return ;; esac
		die 1 "nothing was removed"
	fi
	die 2 "--purge deletes keys and the audit database: confirm with --yes when there is no terminal"
}

# remove PATH: gone, and named in REMOVED for the summary; a path not there is not named.
remove() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		run rm -rf "$1"
		REMOVED="$REMOVED${REMOVED:+, }$1"
	fi
}

# The installed certificates and keys stay (servers may read them), but not owned by a uid,
# or a gid, that the next user or group created would get: they go to root first. Only the
# user's own group goes with it (userdel --user-group's); a shared one such as nogroup stays.
disown_certs() {
	if [ ! -d "$CERT_DIR" ]; then return; fi
	owned=$(find "$CERT_DIR" -user "$SVC_USER" | wc -l)
	grouped=0
	if [ "$(primary_group)" = "$SVC_USER" ]; then grouped=$(find "$CERT_DIR" -group "$SVC_USER" | wc -l); fi
	if [ "$owned" -eq 0 ] && [ "$grouped" -eq 0 ]; then return; fi
	if [ "$DRY_RUN" = 1 ]; then
		say "would give to root what $SVC_USER owns under $CERT_DIR ($owned path(s) by owner, $grouped by group)"
		return
	fi
	{ find "$CERT_DIR" -user "$SVC_USER" -exec chown root {} + &&
		if [ "$grouped" -gt 0 ]; then find "$CERT_DIR" -group "$SVC_USER" -exec chgrp root {} +; fi; } ||
		die 1 "cannot give what $SVC_USER owns under $CERT_DIR to root; nothing was removed but the unit and the binary"
	say "Kept: $CERT_DIR (certificates and keys), now owned by root where $SVC_USER or its group owned them ($owned path(s) by owner, $grouped by group)."
}

# The binary the unit starts (its ExecStart=), empty without a unit.
unit_binary() {
	if [ -f "$UNIT" ]; then sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$UNIT" | head -n 1; fi
}

# Whether anything of rota is on this machine for --uninstall to remove or keep; LOOKED
# names where it looked.
anything_installed() {
	if [ "$DSM" = 1 ]; then set -- "$LINK" "$BOOT_SCRIPT" "$BIN" "$CONFIG_DIR" "$STATE_DIR"; else set -- "$UNIT" "$BIN" "$CONFIG_DIR" "$STATE_DIR"; fi
	LOOKED=""
	for p in "$@"; do
		if [ -e "$p" ] || [ -L "$p" ]; then return 0; fi
		LOOKED="$LOOKED${LOOKED:+, }$p"
	done
	return 1
}

uninstall() {
	# A unit starting another binary than this --prefix names was installed with another
	# --prefix: removing the unit alone would leave that binary behind.
	ran=$(unit_binary)
	if [ "$DSM" = 0 ] && [ -n "$ran" ] && [ "$ran" != "$BIN" ]; then
		case $ran in */bin/rota) how="--uninstall --prefix ${ran%/bin/rota}" ;; *) how="remove $UNIT and $ran by hand" ;; esac
		die 2 "$UNIT starts $ran, not $BIN: run $how; nothing was removed"
	fi
	if ! anything_installed; then
		say "rota is not installed here: none of $LOOKED exists; nothing was removed."
		return
	fi
	if [ "$PURGE" = 1 ]; then confirm_purge; fi
	if [ "$DSM" = 1 ]; then
		service stop || true
		remove "$LINK"
		remove "$BOOT_SCRIPT"
		remove "$BIN"
	else
		if [ -f "$UNIT" ]; then
			run systemctl disable --now rota || true
			remove "$UNIT"
			run systemctl daemon-reload || true
		fi
		remove "$BIN"
	fi
	kept=""
	if [ "$PURGE" = 1 ]; then
		drop_user=0
		if purges_user; then
			drop_user=1
			disown_certs
		fi
		remove "$CONFIG_DIR"
		remove "$STATE_DIR"
		if [ "$DSM" = 1 ]; then
			remove "$DSM_ROOT"
		elif [ "$drop_user" = 1 ]; then
			if command -v userdel >/dev/null 2>&1; then run userdel "$SVC_USER"; else run deluser "$SVC_USER"; fi
			REMOVED="$REMOVED${REMOVED:+, }the user $SVC_USER"
		elif [ "$DSM" = 0 ] && [ "$SVC_USER" != root ] && id "$SVC_USER" >/dev/null 2>&1; then
			kept="the user $SVC_USER, which rota's installer does not make under that name."
		fi
	else
		if [ -d "$CONFIG_DIR" ]; then kept="the config in $CONFIG_DIR"; fi
		if [ -d "$STATE_DIR" ]; then kept="${kept:+$kept and }the state (keys, audit database) in $STATE_DIR"; fi
		if [ -n "$kept" ]; then kept="$kept; --uninstall --purge deletes them."; fi
	fi
	if [ "$DRY_RUN" = 1 ]; then
		say "--dry-run: would remove: ${REMOVED:-nothing}; nothing was changed.${kept:+ Would keep: $kept}"
	elif [ -n "$REMOVED" ]; then
		say "rota is removed: $REMOVED.${kept:+ Kept: $kept}"
	else
		say "Nothing to remove: no unit, binary or boot script of rota is here.${kept:+ Kept: $kept}"
	fi
}

# --- Main ------------------------------------------------------------------------------

# In a function, so that `curl … | sh` has read the whole script before anything runs.
main() {
	detect
	layout
	if [ "$UNINSTALL" = 1 ]; then
		uninstall
		exit 0
	fi
	fetch_and_verify
	smoke_test
	check_config
	ensure_user
	install_files
	swap_binary
	start_service
	say ""
	if [ "$DRY_RUN" = 1 ]; then
		say "--dry-run: rota $WANT_VERSION ($TARGET) would be installed as $BIN; nothing was changed."
	else
		say "rota $WANT_VERSION ($TARGET) installed: $BIN, config $CONFIG, state $STATE_DIR."
	fi
	if [ "$DSM" = 1 ]; then dsm_steps; fi
	say "next: edit $CONFIG, then run: rota doctor --config $CONFIG"
}

main

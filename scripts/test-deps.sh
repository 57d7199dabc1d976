#!/usr/bin/env bash
# Installs what the end-to-end tests and benches start for real: a fresh machine
# has only Node.js and npm. Idempotent, and quick when everything is present:
# `apt-get update` runs only when a package is actually missing.
set -euo pipefail

# Debian package -> a command it provides, or a file or glob (checked first: cheaper than dpkg-query).
declare -A PROVIDES=(
  [pebble]=pebble-challtestsrv   # pebble 2.x + its DNS/challenge test server
  [nginx-light]=nginx
  [haproxy]=haproxy              # runtime API hot swap (install type "haproxy")
  [openssl]=openssl
  [e2fsprogs]=chattr             # immutable files for write-failure tests
  [util-linux]=unshare           # also setpriv, used to run the daemon as another uid
  [procps]=pgrep
  [lego]=lego                    # peer ACME clients for side-by-side benches
  [certbot]=certbot
  [hyperfine]=hyperfine
  [wrk]=wrk                      # HTTP load for bench/api.ts
  [curl]=curl                    # the lego exec hook of bench/dns01.ts
  [python3-fusepy]=/usr/lib/python3/dist-packages/fusepy.py   # a FUSE mount that never answers
  [chromium]=chromium            # the dashboard's browser tests (driven by playwright-core)
  [knot]=knotd                   # a real authoritative DNS server for the propagation checks
  [knot-module-dnstap]='/usr/lib/*/knot/modules-*/dnstap.so'   # knotd reports each query, RD bit included
  [qemu-user]=qemu-aarch64        # runs the linux-arm64 release build (test/release)
  [libc6-arm64-cross]=/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1
  [shellcheck]=shellcheck         # install.sh and rota-boot.sh stay clean
  [busybox-static]=/bin/busybox   # the userland of install.sh's throwaway roots
)

missing=()
for pkg in "${!PROVIDES[@]}"; do
  cmd=${PROVIDES[$pkg]}
  if [[ $cmd == /* ]]; then
    compgen -G "$cmd" >/dev/null || missing+=("$pkg")
  elif ! PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
  echo "test-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian enables and starts nginx's system service on install; it would hold port 80
# and is of no use to tests, which run their own nginx on loopback ports.
if ((${#missing[@]} > 0)) && [[ " ${missing[*]} " == *" nginx-light "* ]]; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
    "${SUDO[@]}" systemctl stop nginx || true
  elif [[ -f /run/nginx.pid ]]; then
    "${SUDO[@]}" /usr/sbin/nginx -s quit 2>/dev/null || true
  fi
fi

# Debian enables knot's service too. Its stock knot.conf listens nowhere, but an edited one
# could hold 127.0.0.1:53, where the tests start their own knotd; it serves no test either way.
if ((${#missing[@]} > 0)) && [[ " ${missing[*]} " == *" knot "* ]]; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet knot 2>/dev/null; then
    "${SUDO[@]}" systemctl stop knot || true
  elif [[ -S /run/knot/knot.sock ]]; then
    "${SUDO[@]}" /usr/sbin/knotc -s /run/knot/knot.sock stop 2>/dev/null || true
  fi
fi

# The same for haproxy: its service listens on the stats socket under /run/haproxy
# (and whatever the default config binds), while tests run their own haproxy.
if ((${#missing[@]} > 0)) && [[ " ${missing[*]} " == *" haproxy "* ]]; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet haproxy 2>/dev/null; then
    "${SUDO[@]}" systemctl stop haproxy || true
  elif [[ -f /run/haproxy.pid ]]; then
    "${SUDO[@]}" kill "$(cat /run/haproxy.pid)" 2>/dev/null || true
  fi
fi

# pebble 2.10 (renewalInfo with a management override, alreadyReplaced, profiles) for the ARI
# and profile tests, from Debian testing (forky, else sid): apt-get pointed at a private sources
# folder downloads the .deb and `dpkg -x` unpacks it into the ignored .cache/pebble/. Debian's own
# pebble (2.4 on bookworm, which the other suites keep for its certificateValidityPeriod) is never
# replaced. Skipped when .cache/pebble already holds 2.10 or later.
pebble_ok() { # $1 = a Debian version such as 2.10.0+ds1-2
  dpkg --compare-versions "$1" ge 2.10~
}
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/pebble"
if [[ ! -x $cache/usr/bin/pebble ]] || ! pebble_ok "$(cat "$cache/VERSION" 2>/dev/null || echo 0)"; then
  apt_dir=$(mktemp -d)
  trap 'rm -rf "$apt_dir"' EXIT
  mkdir -p "$apt_dir/sources" "$apt_dir/lists/partial" "$apt_dir/cache" "$apt_dir/debs"
  fetched=""
  for suite in forky sid; do
    cat >"$apt_dir/sources/testing.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources"
      -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::Cache::Archives=$apt_dir/debs"
      -o "APT::Architecture=$(dpkg --print-architecture)" -o "APT::Sandbox::User=$(id -un)")
    apt-get "${apt_opts[@]}" update -qq >&2 || continue
    version=$(apt-cache "${apt_opts[@]}" show pebble 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n1)
    if [[ -z $version ]] || ! pebble_ok "$version"; then
      echo "test-deps: $suite has pebble ${version:-none}, below 2.10" >&2
      continue
    fi
    (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download "pebble=$version" >&2) || continue
    rm -rf "$cache" && mkdir -p "$cache"
    dpkg -x "$apt_dir"/debs/pebble_*.deb "$cache"
    echo "$version" >"$cache/VERSION"
    fetched=$version
    break
  done
  if [[ -z $fetched ]]; then
    echo "test-deps: no pebble >= 2.10 in Debian testing; the ARI and profile e2e tests will skip" >&2
  else
    echo "test-deps: pebble $fetched in $cache" >&2
  fi
fi

if ! command -v bun >/dev/null 2>&1; then
  echo "test-deps: installing bun" >&2
  # npm may warn that bun's postinstall did not run; the binary works regardless.
  npm i -g bun >&2
fi

echo "test-deps: ok (bun $(bun --version))" >&2

/**
 * @module Throwaway roots for install.sh (issue 15 §3), entered with chroot: a
 * busybox-static userland with dash, the host's glibc copied in so a compiled rota runs,
 * procfs with the case's own `/proc/cpuinfo` bound over it, and shims for uname, ldd,
 * useradd, userdel, busybox's adduser and addgroup (which busybox-static lacks), and
 * systemctl that record each call in `/shim.log`. The systemctl shim
 * starts and stops the unit's ExecStart for real, with its drop-ins' `Environment=`, so
 * `rota status` answers after `enable --now`. Needs root (chroot, mount); callers skip otherwise.
 */
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { makeTempDir, removeTempDir } from "./tmp.ts";

export const BUSYBOX = "/bin/busybox";

/** What one case's machine looks like. */
export interface RootSpec {
  /** `uname -s`; default Linux. */
  os?: string;
  /** `uname -m`; default x86_64. */
  machine?: string;
  /** avx2 in the cpuinfo flags; default true. */
  avx2?: boolean;
  /** `ldd --version` says musl, and musl's loader is there. */
  musl?: boolean;
  /** libstdc++ and libgcc_s beside musl; default true. */
  muslLibs?: boolean;
  /** `/etc.defaults/VERSION` with this majorversion. */
  dsmMajor?: number;
  /** `/run/systemd/system` exists; default true (not on DSM). */
  systemd?: boolean;
  /** `/tmp` is a tmpfs mounted noexec, as hardened hosts have it. */
  noexecTmp?: boolean;
}

export interface RootRun {
  code: number;
  stdout: string;
  stderr: string;
}

const SHIMS: Record<string, string> = {
  uname: `#!/bin/sh
echo "uname $*" >>/shim.log
case $1 in
-s) cat /shim/uname-s ;;
-m) cat /shim/uname-m ;;
*) exec /bin/busybox uname "$@" ;;
esac
`,
  ldd: `#!/bin/sh
echo "ldd $*" >>/shim.log
if [ -f /shim/musl ]; then
	echo "musl libc (x86_64)"
	echo "Version 1.2.4"
	exit 1
fi
echo "ldd (Debian GLIBC 2.36-9) 2.36"
`,
  useradd: `#!/bin/sh
echo "useradd $*" >>/shim.log
for name; do :; done
echo "$name:x:999:999::/nonexistent:/usr/sbin/nologin" >>/etc/passwd
echo "$name:x:999:" >>/etc/group
`,
  // busybox's: -S without -G puts the user in nogroup; -G names a group that must exist.
  adduser: `#!/bin/sh
echo "adduser $*" >>/shim.log
group=""
while [ $# -gt 1 ]; do
	case $1 in
	-G) group=$2; shift ;;
	-s | -h | -g | -u) shift ;;
	esac
	shift
done
if [ -n "$group" ]; then
	gid=$(sed -n "s/^$group:x:\\([0-9]*\\):.*/\\1/p" /etc/group)
	if [ -z "$gid" ]; then echo "adduser: unknown group $group" >&2; exit 1; fi
else
	grep -q '^nogroup:' /etc/group || echo "nogroup:x:65534:" >>/etc/group
	gid=65534
fi
echo "$1:x:998:$gid::/home/$1:/sbin/nologin" >>/etc/passwd
`,
  addgroup: `#!/bin/sh
echo "addgroup $*" >>/shim.log
for name; do :; done
echo "$name:x:998:" >>/etc/group
`,
  userdel: `#!/bin/sh
echo "userdel $*" >>/shim.log
sed -i "/^$1:/d" /etc/passwd /etc/group
`,
  systemctl: `#!/bin/sh
echo "systemctl $*" >>/shim.log
launch() {
	# fail-start: every start fails; holding a number N, the next N do.
	if [ -s /shim/fail-start ]; then
		n=$(cat /shim/fail-start)
		if [ "$n" -gt 1 ]; then echo $((n - 1)) >/shim/fail-start; else rm /shim/fail-start; fi
		return 0
	fi
	if [ -f /shim/fail-start ]; then return 0; fi
	bin=$(sed -n 's/^ExecStart=\\([^ ]*\\) .*/\\1/p' /etc/systemd/system/rota.service)
	mkdir -p /run/rota
	# The drop-ins' Environment= lines, as systemd passes them.
	set --
	for f in /etc/systemd/system/rota.service.d/*.conf; do
		if [ -f "$f" ]; then
			for kv in $(sed -n 's/^Environment=//p' "$f"); do set -- "$@" "$kv"; done
		fi
	done
	setsid env "$@" "$bin" daemon --config /etc/rota/rota.toml </dev/null >>/var/log/rota.log 2>&1 &
	echo $! >/run/shim-rota.pid
}
halt() {
	if [ ! -f /run/shim-rota.pid ]; then return 0; fi
	pid=$(cat /run/shim-rota.pid)
	kill "$pid" 2>/dev/null || true
	i=0
	while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	rm -f /run/shim-rota.pid
}
case $1 in
start) launch ;;
stop) halt ;;
enable) if [ "\${2:-}" = --now ]; then launch; fi ;;
is-active)
	if [ -f /run/shim-rota.pid ] && kill -0 "$(cat /run/shim-rota.pid)" 2>/dev/null; then echo active; exit 0; fi
	echo inactive
	exit 3
	;;
disable) if [ "\${2:-}" = --now ]; then halt; fi ;;
esac
exit 0
`,
};

/** The host's loader and libraries the compiled rota and dash need, copied once per template. */
function glibcFiles(binaries: string[]): string[] {
  const files = new Set<string>();
  for (const bin of binaries) {
    const out = Bun.spawnSync(["ldd", bin], { stdout: "pipe" }).stdout.toString();
    for (const m of out.matchAll(/(\/\S+\.so[.\d]*)/g)) files.add(m[1]!);
  }
  return [...files];
}

/** A template root with everything but the per-case files; cases copy it. */
export function makeTemplate(rotaBinary: string): string {
  const dir = makeTempDir("rota-root-template-");
  const dash = "/usr/bin/dash";
  for (const file of glibcFiles([rotaBinary, dash])) {
    mkdirSync(join(dir, dirname(file)), { recursive: true });
    copyFileSync(file, join(dir, file));
  }
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "etc", "tmp", "dev", "proc", "run", "var/log", "shim", "root"]) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  chmodSync(join(dir, "tmp"), 0o1777);
  copyFileSync(BUSYBOX, join(dir, "bin", "busybox"));
  chmodSync(join(dir, "bin", "busybox"), 0o755);
  copyFileSync(dash, join(dir, "bin", "dash"));
  chmodSync(join(dir, "bin", "dash"), 0o755);
  symlinkSync("dash", join(dir, "bin", "sh"));
  const applets = Bun.spawnSync([BUSYBOX, "--list"], { stdout: "pipe" }).stdout.toString().split("\n").filter(Boolean);
  for (const applet of applets) {
    if (applet === "busybox" || applet in SHIMS || applet === "sh") continue;
    symlinkSync("/bin/busybox", join(dir, "bin", applet));
  }
  for (const [name, body] of Object.entries(SHIMS)) {
    writeFileSync(join(dir, "shim", name), body, { mode: 0o755 });
  }
  writeFileSync(join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(dir, "etc", "group"), "root:x:0:\n");
  for (const [name, minor] of [["null", 3], ["zero", 5], ["urandom", 9], ["random", 8]] as const) {
    Bun.spawnSync(["mknod", "-m", "666", join(dir, "dev", name), "c", "1", String(minor)]);
  }
  return dir;
}

/** One case's root, copied from the template; `close()` unmounts, stops what it started and removes it. */
export class ThrowawayRoot {
  private mounted: string[] = [];

  private constructor(readonly dir: string) {}

  static create(template: string, spec: RootSpec = {}): ThrowawayRoot {
    const dir = makeTempDir("rota-root-");
    const cp = Bun.spawnSync(["cp", "-a", `${template}/.`, dir], { stderr: "pipe" });
    if (cp.exitCode !== 0) throw new Error(`chroot: cannot copy the template: ${cp.stderr}`);
    const root = new ThrowawayRoot(dir);
    root.write("/shim/uname-s", `${spec.os ?? "Linux"}\n`);
    root.write("/shim/uname-m", `${spec.machine ?? "x86_64"}\n`);
    if (spec.musl) {
      root.write("/shim/musl", "");
      root.write("/lib/ld-musl-x86_64.so.1", "");
      if (spec.muslLibs ?? true) {
        root.write("/usr/lib/libstdc++.so.6", "");
        root.write("/usr/lib/libgcc_s.so.1", "");
      }
    }
    if (spec.dsmMajor !== undefined) {
      root.write("/etc.defaults/VERSION", `majorversion="${spec.dsmMajor}"\nminorversion="2"\nproductversion="${spec.dsmMajor}.2.1"\n`);
      mkdirSync(join(dir, "volume1"));
    }
    if (spec.systemd ?? spec.dsmMajor === undefined) mkdirSync(join(dir, "run", "systemd", "system"), { recursive: true });
    // A compiled Bun binary aborts without procfs: a real one, with this case's cpuinfo over it.
    const flags = `fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm${spec.avx2 === false ? "" : " avx2 bmi1 bmi2"}`;
    const cpuinfo = `${dir}.cpuinfo`;
    writeFileSync(cpuinfo, `processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU\nflags\t\t: ${flags}\n\n`);
    if (spec.noexecTmp) root.mount(["-t", "tmpfs", "-o", "noexec,mode=1777", "tmpfs", join(dir, "tmp")]);
    root.mount(["-t", "proc", "proc", join(dir, "proc")]);
    root.mount(["--bind", cpuinfo, join(dir, "proc", "cpuinfo")]);
    return root;
  }

  private mount(args: string[]): void {
    const r = Bun.spawnSync(["mount", ...args], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`chroot: mount ${args.join(" ")}: ${r.stderr}`);
    this.mounted.unshift(args.at(-1)!);
  }

  /** A path inside the root, as the host sees it. */
  path(p: string): string {
    return join(this.dir, p);
  }

  write(p: string, content: string | Uint8Array, mode?: number): void {
    mkdirSync(dirname(this.path(p)), { recursive: true });
    writeFileSync(this.path(p), content, mode === undefined ? undefined : { mode });
  }

  read(p: string): string {
    return readFileSync(this.path(p), "utf8");
  }

  exists(p: string): boolean {
    return existsSync(this.path(p));
  }

  /** Mode bits and owner name of a path inside the root. */
  stat(p: string): { mode: number; owner: string; group: string } {
    const st = statSync(this.path(p));
    const name = (file: string, id: number) => this.read(file).split("\n").find((l) => l.split(":")[2] === String(id))?.split(":")[0] ?? String(id);
    return { mode: st.mode & 0o7777, owner: name("/etc/passwd", st.uid), group: name("/etc/group", st.gid) };
  }

  /** The shims' calls so far, one per line. */
  calls(): string[] {
    return this.exists("/shim.log") ? this.read("/shim.log").split("\n").filter(Boolean) : [];
  }

  /** Calls of one command, without the arguments of the others. */
  callsOf(command: string): string[] {
    return this.calls().filter((l) => l.startsWith(`${command} `));
  }

  /** A digest of every path, mode, owner and content outside /proc and the shim log. */
  treeHash(): string {
    const hasher = new Bun.CryptoHasher("sha256");
    const walk = (rel: string) => {
      for (const name of readdirSync(this.path(rel)).sort()) {
        const p = join(rel, name);
        if (p === "/proc" || p === "/shim.log") continue;
        const st = lstatSync(this.path(p));
        hasher.update(`${p} ${st.mode} ${st.uid} ${st.gid} ${st.size}\n`);
        if (st.isSymbolicLink()) hasher.update(readlinkSync(this.path(p)));
        else if (st.isDirectory()) walk(p);
        else if (st.isFile()) hasher.update(readFileSync(this.path(p)));
      }
    };
    walk("/");
    return hasher.digest("hex");
  }

  /**
   * install.sh as `curl … | sh -s -- args` would run it: the script on stdin of dash or
   * busybox ash, in a clean environment.
   */
  async run(script: string, args: string[], opts: { shell?: "dash" | "ash"; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RootRun> {
    const shell = opts.shell === "ash" ? ["/bin/busybox", "ash"] : ["/bin/dash"];
    const env = { PATH: "/shim:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root", ...opts.env };
    const proc = Bun.spawn(
      ["timeout", "--signal=KILL", `${(opts.timeoutMs ?? 60_000) / 1000}s`, "chroot", this.dir, "/bin/busybox", "env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...shell, "-s", "--", ...args],
      { stdin: new TextEncoder().encode(script), stdout: "pipe", stderr: "pipe" },
    );
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  }

  /** Runs one command inside the root (no shell). */
  exec(args: string[]): RootRun {
    const r = Bun.spawnSync(["chroot", this.dir, ...args], { stdout: "pipe", stderr: "pipe", env: { PATH: "/shim:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" } });
    return { code: r.exitCode ?? 1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }

  /** Stops a daemon the shims or rota-boot.sh started, unmounts, removes the root. */
  close(): void {
    for (const pidfile of ["/run/shim-rota.pid", "/run/rota/rota.pid"]) {
      if (!this.exists(pidfile)) continue;
      const pid = Number(this.read(pidfile).trim());
      try {
        if (pid > 1) process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    // The daemons a loop or the shim started, whatever their pid files say: any process rooted here.
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      const root = Bun.spawnSync(["readlink", `/proc/${pid}/root`], { stdout: "pipe" }).stdout.toString().trim();
      if (root === this.dir) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    for (const m of this.mounted) Bun.spawnSync(["umount", "-l", m]);
    this.mounted = [];
    rmSync(`${this.dir}.cpuinfo`, { force: true });
    removeTempDir(this.dir);
  }
}

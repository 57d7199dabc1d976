/**
 * @module What a dsm target keeps in `<state_dir>/dsm/<name>/`, each file 0600:
 * - `device.json`: the device token `rota dsm login` obtained, so logins need no 2-step code;
 * - `auth-blocked.json`: the latch, set by a login only a person can fix, cleared by `rota dsm login`;
 * - `cert.pem` + `installed.json`: the leaf last read back from DSM and its entry's id, because
 *   DSM hands a certificate out only in a zip with its key (docs/dsm.md).
 * Files belong to the owner of `state_dir`, also when `rota dsm login` runs as root.
 */
import { chownSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { RotaError } from "../../../errors.ts";
import { ensureDir, writeFileAtomic } from "../../../fsutil.ts";

export interface DeviceToken {
  device_id: string;
  device_name: string;
}

export interface AuthBlock {
  /** DSM's error code of the refused login. */
  code: number;
  message: string;
  at: string;
}

export interface Installed {
  /** The cert whose leaf this is: a target holds one, but the config may move it to another. */
  cert_id: string;
  /** The DSM entry rota imported into last. */
  id: string;
  /** The leaf's serial, lowercase hex. */
  serial: string;
  /** The leaf's notAfter, ISO 8601. */
  not_after: string;
}

export class DsmState {
  readonly dir: string;

  constructor(
    private readonly stateDir: string,
    name: string,
    private readonly who: string,
  ) {
    this.dir = join(stateDir, "dsm", name);
  }

  device(): DeviceToken | null {
    const v = this.readJson<Partial<DeviceToken>>("device.json");
    return typeof v?.device_id === "string" && v.device_id !== "" ? { device_id: v.device_id, device_name: v.device_name ?? "" } : null;
  }

  saveDevice(token: DeviceToken): void {
    this.write("device.json", `${JSON.stringify(token)}\n`);
  }

  block(): AuthBlock | null {
    return this.readJson<AuthBlock>("auth-blocked.json");
  }

  /** Sets the latch; false when it was already set (the event was sent then). */
  setBlock(b: AuthBlock): boolean {
    const fresh = this.block() === null;
    this.write("auth-blocked.json", `${JSON.stringify(b)}\n`);
    return fresh;
  }

  clearBlock(): void {
    rmSync(join(this.dir, "auth-blocked.json"), { force: true });
  }

  installed(): { record: Installed; leafPem: string } | null {
    const record = this.readJson<Installed>("installed.json");
    if (record === null || typeof record.id !== "string") return null;
    const leafPem = this.readText("cert.pem");
    return leafPem === null ? null : { record, leafPem };
  }

  /** The leaf first, so installed.json never names a leaf not yet written. */
  saveInstalled(record: Installed, leafPem: string): void {
    this.write("cert.pem", leafPem);
    this.write("installed.json", `${JSON.stringify(record)}\n`);
  }

  private write(file: string, data: string): void {
    const owner = ownerOf(this.stateDir);
    try {
      ensureDir(this.dir, 0o700);
      if (owner) {
        chownSync(join(this.stateDir, "dsm"), owner.uid, owner.gid);
        chownSync(this.dir, owner.uid, owner.gid);
      }
      writeFileAtomic(join(this.dir, file), data, { mode: 0o600, ...owner });
    } catch (err) {
      throw new RotaError("state_write_failed", `${this.who}: cannot write ${join(this.dir, file)}: ${(err as Error).message}`, { cause: err });
    }
  }

  private readText(file: string): string | null {
    try {
      return readFileSync(join(this.dir, file), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new RotaError("read_failed", `${this.who}: cannot read ${join(this.dir, file)}: ${(err as Error).message}`, { cause: err });
    }
  }

  private readJson<T>(file: string): T | null {
    const text = this.readText(file);
    if (text === null) return null;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new RotaError("read_failed", `${this.who}: ${join(this.dir, file)} is not JSON; delete it and run rota dsm login`, { noRetry: true });
    }
  }
}

/** The state folder's owner when root writes into someone else's folder; undefined otherwise (nothing to change). */
function ownerOf(stateDir: string): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const st = statSync(stateDir);
    return st.uid === 0 ? undefined : { uid: st.uid, gid: st.gid };
  } catch {
    return undefined;
  }
}

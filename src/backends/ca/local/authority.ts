/**
 * @module A local CA's root and intermediate, kept in its own folder (layout.ts).
 * Created on first use and reused after; the intermediate (and, a decade on, the root)
 * is reissued from the same key when it is missing, unreadable or close to expiry.
 * In cluster mode the root is only read: every node must sign under the same root, so a
 * node never makes its own (the intermediate is each node's own, under that root).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import type { X509Certificate } from "@peculiar/x509";
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import { ensureDir, writeFileAtomic } from "../../../fsutil.ts";
import { withLock } from "../../../lockfile.ts";
import { keyTypeOfObject, loadOrCreateKey, type KeyType } from "../../../crypto/keys.ts";
import { importSigningKeys, type SigningKeys } from "../../../crypto/webcrypto.ts";
import { x509 } from "../../../crypto/x509.ts";
import { rootCommonName } from "./root-name.ts";
import { fromPem, keyIdentifier, readCertificate, toPem, verifySignature, type CertFields } from "../../../crypto/x509-der.ts";

const ROOT_DAYS = 3650;
const INTERMEDIATE_DAYS = 365;
const RENEW_WITHIN_MS = 30 * 86_400_000;
/** notBefore is set this far back so a client whose clock lags a little still accepts a fresh certificate. */
export const BACKDATE_MS = 5 * 60_000;
const CERT_MODE = 0o644;

/**
 * What signs: a CA certificate (its PEM and its fields as x509-der.ts reads them) and its
 * key. Reading and signing need nothing else: @peculiar/x509 is loaded only to create a root
 * or an intermediate, so a worker that finds its CA on disk never loads it (about 14 MB).
 */
export interface Signer {
  pem: string;
  cert: CertFields;
  key: KeyObject;
  /** The key's type: what the signature algorithm is. */
  type: KeyType;
  /** Its key identifier: a leaf's authorityKeyIdentifier. */
  keyId: Uint8Array;
}

/** Throws for a key of a type rota does not sign with: the locked load then replaces it. */
function signerOf(pem: string, cert: CertFields, keyPem: string): Signer {
  const key = createPrivateKey(keyPem);
  const type = keyTypeOfObject(key);
  if (!type) throw new RotaError("key_invalid", "local-ca: the CA key is not one of the supported key types");
  return { pem, cert, key, type, keyId: keyIdentifier(cert.spki) };
}

export function addDays(d: Date, days: number): Date {
  return new Date(d.getTime() + days * 86_400_000);
}

/** 16 random bytes, top bit cleared so the DER INTEGER is positive without a pad byte. */
export function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString("hex");
}

/** First use may come from several renewal processes at once: one creates the CA, the others read it. */
const LOAD_WAIT_MS = 60_000;

export class Authority {
  private current: Signer | undefined;
  private loading: Promise<Signer> | undefined;

  constructor(
    private readonly dir: string,
    private readonly commonName: string,
    private readonly clock: Clock,
    /** False in cluster mode: a missing or unusable root is an error telling to copy it, never created or reissued here. */
    private readonly opts: { createRoot: boolean } = { createRoot: true },
  ) {}

  /** The intermediate to sign leaves with; concurrent callers share one load. */
  async intermediate(): Promise<Signer> {
    if (this.current && !this.due(this.current.cert)) return this.current;
    this.loading ??= this.loadShared().finally(() => {
      this.loading = undefined;
    });
    this.current = await this.loading;
    return this.current;
  }

  /**
   * The files as they are when they are complete and current, read without the lock: it
   * only guards creating and reissuing them (each file is replaced atomically, so a reader
   * sees an old or a new one, and a pair that does not chain is taken under the lock).
   */
  private async loadShared(): Promise<Signer> {
    const root = this.opts.createRoot ? await this.readCurrent("root") : await this.copiedRoot();
    const ready = root && (await this.readCurrent("intermediate", root));
    if (ready) return ready;
    ensureDir(this.dir, 0o700);
    return withLock(join(this.dir, ".lock"), LOAD_WAIT_MS, "local-ca", () => this.load());
  }

  /** `<name>.key` and `<name>.pem` when both are there and reusable; null for anything else, which the locked load sorts out. Creates nothing. */
  private async readCurrent(name: string, issuer?: Signer): Promise<Signer | null> {
    try {
      const keyPem = readFileSync(join(this.dir, `${name}.key`), "utf8");
      const read = readCert(join(this.dir, `${name}.pem`));
      if (!read || !(await this.reusable(read.cert, keyPem, issuer))) return null;
      return signerOf(read.pem, read.cert, keyPem);
    } catch {
      return null;
    }
  }

  private due(cert: CertFields): boolean {
    return cert.notAfter.getTime() - this.clock.now().getTime() < RENEW_WITHIN_MS;
  }

  private async load(): Promise<Signer> {
    const root = this.opts.createRoot ? await this.loadOrIssue("root", (signing) => this.issueRoot(signing)) : await this.copiedRoot();
    return this.loadOrIssue("intermediate", (signing) => this.issueIntermediate(signing, root), root);
  }

  /** The root as copied from the node that made it; an error naming what to copy when it is missing or unusable. */
  private async copiedRoot(): Promise<Signer> {
    const root = await this.readCurrent("root");
    if (root) return root;
    throw new RotaError(
      "local_ca_root_missing",
      `local-ca: in cluster mode a node never creates its CA root: ${join(this.dir, "root.key")} and root.pem are missing, unreadable, do not match or are close to expiry; copy them from the node that made them`,
      { noRetry: true },
    );
  }

  /** Reuses `<name>.pem` when it still belongs to `<name>.key`, is signed by `issuer` and is not due; issues it otherwise. */
  private async loadOrIssue(name: string, issue: (s: SigningKeys) => Promise<X509Certificate>, issuer?: Signer): Promise<Signer> {
    const key = loadOrCreateKey(join(this.dir, `${name}.key`), "ecdsa-p256");
    const pemPath = join(this.dir, `${name}.pem`);
    const existing = key.created ? null : readCert(pemPath);
    if (existing && (await this.reusable(existing.cert, key.pem, issuer))) return signerOf(existing.pem, existing.cert, key.pem);
    const pem = pemOf(await issue(await importSigningKeys(key.pem, "local-ca")));
    writeFileAtomic(pemPath, pem, { mode: CERT_MODE });
    return signerOf(pem, readCertificate(fromPem(pem, "CERTIFICATE")), key.pem);
  }

  private async reusable(cert: CertFields, keyPem: string, issuer: Signer | undefined): Promise<boolean> {
    const spki = createPublicKey(keyPem).export({ type: "spki", format: "der" });
    if (!spki.equals(cert.spki) || this.due(cert)) return false;
    if (!issuer) return true;
    const signed = verifySignature(cert.signatureAlgorithm, cert.tbs, cert.signature, issuer.cert.spki);
    if (signed !== undefined && Buffer.from(cert.issuer).equals(issuer.cert.subject)) return signed;
    // Names encoded differently, or an algorithm x509-der.ts does not know: compared and checked as they always were.
    const lib = await x509();
    const [c, i] = [new lib.X509Certificate(toPem(cert.der, "CERTIFICATE")), new lib.X509Certificate(issuer.pem)];
    return c.issuer === i.subject && (await c.verify({ publicKey: i, signatureOnly: true }).catch(() => false));
  }

  private async issueRoot(signing: SigningKeys): Promise<X509Certificate> {
    const lib = await x509();
    const notBefore = new Date(this.clock.now().getTime() - BACKDATE_MS);
    return lib.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerialHex(),
      name: [{ CN: [rootCommonName(this.commonName)] }],
      notBefore,
      notAfter: addDays(notBefore, ROOT_DAYS),
      keys: signing.keys,
      signingAlgorithm: signing.signingAlgorithm,
      extensions: [
        new lib.BasicConstraintsExtension(true, undefined, true),
        new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
        await lib.SubjectKeyIdentifierExtension.create(signing.keys.publicKey),
      ],
    });
  }

  private async issueIntermediate(signing: SigningKeys, issuer: Signer): Promise<X509Certificate> {
    const lib = await x509();
    const root = { cert: new lib.X509Certificate(issuer.pem), signing: await importSigningKeys(issuer.key.export({ type: "pkcs8", format: "pem" }).toString(), "local-ca") };
    const notBefore = new Date(this.clock.now().getTime() - BACKDATE_MS);
    const wanted = addDays(notBefore, INTERMEDIATE_DAYS);
    return lib.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(),
      subject: [{ CN: [`${this.commonName} intermediate`] }],
      issuer: root.cert.subjectName,
      notBefore,
      // A CA certificate outliving its issuer would fail validation from that day on.
      notAfter: wanted < root.cert.notAfter ? wanted : root.cert.notAfter,
      publicKey: signing.keys.publicKey,
      signingKey: root.signing.keys.privateKey,
      signingAlgorithm: root.signing.signingAlgorithm,
      extensions: [
        new lib.BasicConstraintsExtension(true, 0, true),
        new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
        await lib.SubjectKeyIdentifierExtension.create(signing.keys.publicKey),
        await lib.AuthorityKeyIdentifierExtension.create(root.cert.publicKey),
      ],
    });
  }
}

export function pemOf(cert: X509Certificate): string {
  return `${cert.toString("pem").trimEnd()}\n`;
}

/** The certificate at `path`, or null when there is none or it does not parse (it is then reissued from the kept key). */
function readCert(path: string): { pem: string; cert: CertFields } | null {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new RotaError("ca_state_unreadable", `local-ca: cannot read ${path}`, { cause: err });
  }
  try {
    return { pem, cert: readCertificate(fromPem(pem, "CERTIFICATE")) };
  } catch {
    return null;
  }
}

/**
 * @module Throwaway CA and loopback server certificate, made with openssl, for test
 * servers that need HTTPS (Debian's pebble ships no listener certificate).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface LoopbackTls {
  /** PEM of the CA to trust (Bun fetch `tls.ca`, LEGO_CA_CERTIFICATES, REQUESTS_CA_BUNDLE). */
  caPath: string;
  certPath: string;
  keyPath: string;
}

function openssl(args: string[], cwd: string): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) {
    throw new Error(`openssl ${args[0]} failed (${r.exitCode}): ${r.stderr.toString()}`);
  }
}

/**
 * Writes ca.pem/ca.key and server.pem/server.key into `dir`. The server cert names
 * DNS:localhost and IP:127.0.0.1, so clients may use either in the URL.
 */
export function makeLoopbackTls(dir: string, days = 30): LoopbackTls {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    [
      "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", String(days),
      "-subj", "/CN=rota test harness CA",
      "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  openssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], dir);
  // openssl 3.0 (bookworm) `x509 -req` drops CSR extensions: give them in an extfile.
  writeFileSync(
    join(dir, "server.ext"),
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "",
    ].join("\n"),
  );
  openssl(
    [
      "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
      "-CAcreateserial", "-out", "server.pem", "-days", String(days), "-extfile", "server.ext",
    ],
    dir,
  );
  return { caPath: join(dir, "ca.pem"), certPath: join(dir, "server.pem"), keyPath: join(dir, "server.key") };
}

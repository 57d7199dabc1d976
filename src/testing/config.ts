/** @module Resolved configs for tests that build a scheduler or runner by hand: the defaults a config file would get. */
import { join } from "node:path";
import type { CertConfig, DaemonConfig, RotaConfig } from "../config/schema.ts";

export function testDaemonConfig(over: Partial<DaemonConfig> = {}): DaemonConfig {
  return {
    stateDir: "",
    socket: "",
    checkIntervalSeconds: 3600,
    renewThresholdDays: undefined,
    failureCooldownSeconds: 900,
    failureCooldownMaxSeconds: 86_400,
    maxAuthzFailures: 5,
    maxConcurrentRenewals: 2,
    renewalTimeoutSeconds: 1800,
    workerIdleSeconds: 60,
    workerMaxRenewals: 1000,
    expiryWarningDays: 14,
    ...over,
  };
}

/** A config of `certs` (no backend sections) whose file and database live in `dir`. */
export function testConfig(dir: string, certs: CertConfig[], daemon: Partial<DaemonConfig> = {}): RotaConfig {
  return {
    file: join(dir, "rota.toml"),
    daemon: testDaemonConfig(daemon),
    audit: { backend: "sqlite", path: join(dir, "rota.db"), retentionDays: 400 },
    cas: [],
    dcvs: [],
    installs: [],
    certs,
    http: { listener: null, publicUrl: undefined },
    alerts: [],
    cluster: { enabled: false, nodeId: "test", lockTtlSeconds: 30, syncIntervalSeconds: 60 },
  };
}

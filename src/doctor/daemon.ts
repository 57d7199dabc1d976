/**
 * @module The `daemon` check: `/healthz` on the daemon's socket answers, and the daemon runs
 * this binary's version. Either failing is a warning (exit 3 when unreachable): the config
 * and the backends may still be fine.
 */
import { unreachableReason } from "../cli/client.ts";
import type { Finding } from "./report.ts";

const TIMEOUT_MS = 5_000;

export async function checkDaemon(socket: string, version: string): Promise<{ findings: Finding[]; reachable: boolean }> {
  const id = "daemon";
  const get = (path: string) => fetch(`http://rota${path}`, { unix: socket, signal: AbortSignal.timeout(TIMEOUT_MS) });
  try {
    const health = await get("/healthz");
    if (!health.ok) throw new Error(`/healthz answered HTTP ${health.status}`);
    const status = (await (await get("/api/status")).json()) as { version?: unknown; pid?: unknown };
    if (status.version !== version) {
      const hint = "systemctl restart rota (on DSM: rota-boot.sh restart)";
      return { reachable: true, findings: [{ id, status: "warn", message: `the daemon at ${socket} runs rota ${String(status.version)}, this binary is ${version}: restart it`, hint }] };
    }
    return { reachable: true, findings: [{ id, status: "ok", message: `rota ${version} answers at ${socket} (pid ${String(status.pid)})` }] };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const reason = (err as Error).name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : unreachableReason(code, socket, err);
    return {
      reachable: false,
      findings: [{ id, status: "warn", message: `not reachable at ${socket}: ${reason}; restart it`, hint: "systemctl start rota (on DSM: rota-boot.sh start), or rota daemon --config FILE; another socket: --socket PATH" }],
    };
  }
}

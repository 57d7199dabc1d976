/** @module The CLI's side of the unix-socket API: JSON calls and the live step stream. */
import { CliExit, EXIT } from "./exit.ts";

export interface Reply<T> {
  status: number;
  body: T;
}

export class ApiClient {
  constructor(readonly socket: string) {}

  async call<T>(method: "GET" | "POST", path: string): Promise<Reply<T>> {
    const res = await this.fetch(method, path);
    const text = await res.text();
    let body: T;
    try {
      body = JSON.parse(text) as T;
    } catch {
      throw new CliExit(EXIT.failed, `rota: unexpected reply from the daemon (HTTP ${res.status}): ${text.slice(0, 200)}`);
    }
    return { status: res.status, body };
  }

  /** Reads a server-sent event stream, calling `onEvent` for each event as it arrives. */
  async stream(path: string, onEvent: (event: string, data: string) => void): Promise<void> {
    const res = await this.fetch("GET", path);
    if (!res.ok || !res.body) throw new CliExit(EXIT.failed, `rota: cannot follow ${path}: HTTP ${res.status}`);
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        }
        if (data.length > 0) onEvent(event, data.join("\n"));
      }
    }
  }

  private async fetch(method: string, path: string): Promise<Response> {
    try {
      return await fetch(`http://rota${path}`, { method, unix: this.socket });
    } catch (err) {
      const code = (err as { code?: string }).code;
      const why = code === "ENOENT" || code === "FailedToOpenSocket" ? "no socket there" : code === "EACCES" ? "permission denied" : (err as Error).message;
      throw new CliExit(EXIT.unreachable, `rota: the daemon is not reachable at ${this.socket} (${why}); is \`rota daemon\` running?`);
    }
  }
}

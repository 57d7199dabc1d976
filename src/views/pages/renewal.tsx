/**
 * @module Renewal `/renewals/:id`: how it started and ended, and its steps in order, each
 * with its outcome, how long it took (a bar against the longest step) and its message or
 * error in full. The whole record is one region following the cert's events, so a running
 * renewal's steps appear as they finish and its status flips when it ends.
 */
import type { Context } from "hono";
import type { ApiDeps } from "../../api/ports.ts";
import type { TcpEnv } from "../../api/tcp.tsx";
import type { Renewal, StepEvent } from "../../store/types.ts";
import { Badge, Time, duration } from "../components.tsx";
import { Layout } from "../layout.tsx";
import { certHref } from "./cert.tsx";
import { NotFoundPage } from "./not-found.tsx";

/** The bar widths style.css has classes for: `w0`, `w5` … `w100`. */
const BAR_STEP = 5;

export interface RenewalPageData {
  renewal: Renewal;
  /** Whether its cert is still configured (a link to it then). */
  certConfigured: boolean;
  now: Date;
  self: string;
}

/**
 * The renewal as the store has it. A row still `running` whose run has ended is read again
 * once the bus's writes land: the last refresh a page makes must not stop one write short.
 */
export async function renewalPageData(deps: ApiDeps, id: string, url: URL): Promise<RenewalPageData | null> {
  let renewal = await deps.store.getRenewal(id);
  if (renewal?.status === "running" && !deps.actions.running(id)) {
    await deps.bus.drain();
    renewal = await deps.store.getRenewal(id);
  }
  if (!renewal) return null;
  return { renewal, certConfigured: deps.certs.find(renewal.certId) !== undefined, now: deps.clock.now(), self: `${url.pathname}${url.search}` };
}

/** `GET /renewals/:id`. */
export async function showRenewal(c: Context<TcpEnv>, deps: ApiDeps, csrf: string): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const d = await renewalPageData(deps, id, new URL(c.req.url));
  if (!d) {
    return c.html(
      <NotFoundPage csrf={csrf} title="Unknown renewal">
        No renewal <code>{id}</code> is in the audit trail (old renewals are pruned). <a href="/">See every certificate</a>.
      </NotFoundPage>,
      404,
    );
  }
  return c.html(<RenewalPage d={d} csrf={csrf} />);
}

/** The width class of a bar: its share of `longest`, in steps of 5 %, at least the thinnest visible one when the step took any time. */
export function barClass(ms: number, longest: number): string {
  if (longest <= 0 || ms <= 0) return "w0";
  return `w${Math.max(BAR_STEP, Math.round((ms / longest) * (100 / BAR_STEP)) * BAR_STEP)}`;
}

function Step(p: { e: StepEvent; longest: number }) {
  const { e } = p;
  return (
    <li class={`step ${e.status}`} data-step={e.step}>
      <span class="name">{e.step}</span>
      <span>
        <Badge status={e.status} />
      </span>
      <span class={`bar ${barClass(e.durationMs, p.longest)}`} aria-hidden="true"></span>
      <span class="dur num">{duration(e.durationMs)}</span>
      {e.message ? <span class={e.status === "failed" ? "message error-box" : "message muted"}>{e.message}</span> : null}
    </li>
  );
}

function Record(p: { d: RenewalPageData }) {
  const { renewal: r, now, self } = p.d;
  const longest = r.events.reduce((m, e) => Math.max(m, e.durationMs), 0);
  const running = r.status === "running";
  return (
    <div id="renewal" data-live={r.certId} hx-get={self} hx-trigger="live" hx-select="#renewal" hx-swap="outerHTML">
      <dl class="facts panel">
        <dt>Status</dt>
        <dd id="renewal-status">
          <Badge status={r.status} />
        </dd>
        <dt>Trigger</dt>
        <dd>
          {r.trigger}
          {r.installOnly ? <span class="muted"> (re-install of the stored certificate, no new order)</span> : null}
        </dd>
        <dt>Why</dt>
        <dd>{r.reason ?? <span class="muted">not recorded</span>}</dd>
        <dt>Started</dt>
        <dd>
          <Time iso={r.startedAt.toISOString()} />
        </dd>
        <dt>Ended</dt>
        <dd>
          {r.finishedAt ? (
            <>
              <Time iso={r.finishedAt.toISOString()} /> <span class="muted">(took {duration(r.finishedAt.getTime() - r.startedAt.getTime())})</span>
            </>
          ) : (
            <span class="muted">running for {duration(now.getTime() - r.startedAt.getTime())}</span>
          )}
        </dd>
        {r.error ? (
          <>
            <dt>Error</dt>
            <dd>
              <p class="error-box">{r.error}</p>
            </dd>
          </>
        ) : null}
      </dl>
      <h2>Steps</h2>
      {r.events.length === 0 && !running ? (
        <p class="empty panel">No step was recorded: it ended before its first step.</p>
      ) : (
        <ol class="steps panel" id="steps" aria-label="Steps">
          {r.events.map((e) => (
            <Step e={e} longest={longest} />
          ))}
          {running ? (
            <li class="step pending" aria-live="polite">
              <span class="name muted">{r.events.length === 0 ? "starting" : "next step"}</span>
              <span>
                <Badge status="running" />
              </span>
            </li>
          ) : null}
        </ol>
      )}
    </div>
  );
}

export function RenewalPage(p: { d: RenewalPageData; csrf: string }) {
  const r = p.d.renewal;
  return (
    <Layout title={`Renewal ${r.id}`} csrf={p.csrf} section={null} liveCert={r.certId}>
      <p class="crumbs">
        <a href="/">Certificates</a> / {p.d.certConfigured ? <a href={certHref(r.certId)}>{r.certId}</a> : <span>{r.certId} (no longer configured)</span>} /
      </p>
      <h1>Renewal {r.id}</h1>
      <Record d={p.d} />
    </Layout>
  );
}

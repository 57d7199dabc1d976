/**
 * @module Certificate `/certs/:id`: what the cert is configured as, what the store holds,
 * what each target serves and why the scheduler thinks what it thinks, its renewals
 * (newest first, paged by keyset), and the buttons to renew. Its regions follow the
 * cert's events; the buttons are plain forms (POST, then 303), so they work without script.
 */
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import { certDetail } from "../../api/cert-detail.ts";
import { installedCert } from "../../api/installed-pem.ts";
import type { CertDetailJson } from "../../api/json.ts";
import type { ApiDeps } from "../../api/ports.ts";
import type { TcpEnv } from "../../api/tcp.tsx";
import type { ClusterBrief } from "../../cluster/types.ts";
import { toUnicode } from "../../config/names.ts";
import { certDetails, type CertDetails } from "../../crypto/details.ts";
import { describeError } from "../../errors.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import type { CertState, Renewal } from "../../store/types.ts";
import { Badge, Time, duration } from "../components.tsx";
import { Layout } from "../layout.tsx";
import { nextStep } from "./overview.tsx";
import { NotFoundPage } from "./not-found.tsx";

export const HISTORY_PAGE_SIZE = 20;

/** Why a renewal asked for on this page did not start, carried across the redirect as a code: no free text in the URL. */
export const RENEW_REFUSALS = ["cooldown", "halted", "not_due", "busy", "not_leader"] as const;
export type RenewRefusal = (typeof RENEW_REFUSALS)[number];

export interface CertPageData {
  detail: CertDetailJson;
  caType: string | null;
  dcvType: string | null;
  /** The newest stored certificate, read; null when nothing is issued yet (or it did not parse: `issuedError`). */
  issued: (CertDetails & { issuedAt: Date }) | null;
  issuedError: string | null;
  /** The serial `GET /api/certs/{id}/pem` serves (what the targets are known to hold); null when it would be a 404. */
  installedSerial: string | null;
  state: CertState | null;
  history: Renewal[];
  /** The `before` cursor of the next page; null on the last. */
  older: string | null;
  /** The page shown is not the newest. */
  paged: boolean;
  historyError: string | null;
  refusal: RenewRefusal | null;
  /** Cluster mode: this node's role and the leader it last saw (a follower's refusal names it); null when off. */
  cluster: ClusterBrief | null;
  now: Date;
  /** This view's URL, for live refreshes. */
  self: string;
}

export async function certPageData(deps: ApiDeps, cert: WatchedCert, url: URL): Promise<CertPageData> {
  const id = cert.config.id;
  let before = url.searchParams.get("before") || undefined;
  let historyError: string | null = null;
  if (before !== undefined && (await deps.store.getRenewal(before))?.certId !== id) {
    historyError = "That page of the history is gone (pruned, or not this cert's): showing the newest renewals.";
    before = undefined;
  }
  const [{ detail, issued }, state, rows] = await Promise.all([
    certDetail(deps, cert),
    deps.store.getCertState(id),
    deps.store.listRenewals({ certId: id, before, limit: HISTORY_PAGE_SIZE + 1 }),
  ]);
  const installed = await installedCert(deps, cert, issued);
  let read: CertPageData["issued"] = null;
  let issuedError: string | null = null;
  if (issued) {
    try {
      read = { ...certDetails(issued.leafPem, issued.chainPem), issuedAt: issued.issuedAt };
    } catch (err) {
      issuedError = describeError(err);
    }
  }
  const history = rows.slice(0, HISTORY_PAGE_SIZE);
  const refusal = url.searchParams.get("renew");
  return {
    detail,
    caType: deps.certs.backendType("ca", cert.config.ca) ?? null,
    dcvType: cert.config.dcv === undefined ? null : (deps.certs.backendType("dcv", cert.config.dcv) ?? null),
    issued: read,
    issuedError,
    installedSerial: installed?.serial ?? null,
    state,
    history,
    older: rows.length > HISTORY_PAGE_SIZE ? history[history.length - 1]!.id : null,
    paged: before !== undefined,
    historyError,
    refusal: (RENEW_REFUSALS as readonly string[]).includes(refusal ?? "") ? (refusal as RenewRefusal) : null,
    cluster: deps.cluster?.brief() ?? null,
    now: deps.clock.now(),
    self: `${url.pathname}${url.search}`,
  };
}

/** `GET /certs/:id`. */
export async function showCert(c: Context<TcpEnv>, deps: ApiDeps, csrf: string): Promise<Response> {
  const cert = deps.certs.find(c.req.param("id") ?? "");
  if (!cert) return unknownCertPage(c, csrf);
  return c.html(<CertPage d={await certPageData(deps, cert, new URL(c.req.url))} csrf={csrf} />);
}

/** `POST /certs/:id/renew` (`force=1` from the confirmation): to the new renewal's page, or back to the cert saying why not. */
export async function renewFromPage(c: Context<TcpEnv>, deps: ApiDeps, csrf: string): Promise<Response> {
  const cert = deps.certs.find(c.req.param("id") ?? "");
  if (!cert) return unknownCertPage(c, csrf);
  const form = await c.req.parseBody();
  const result = await deps.actions.renew(cert, { force: form.force === "1", newKey: false });
  if (result.status === "started") return c.redirect(`/renewals/${encodeURIComponent(result.renewalId)}`, 303);
  return c.redirect(`${certHref(cert.config.id)}?renew=${result.status}#actions`, 303);
}

function unknownCertPage(c: Context<TcpEnv>, csrf: string): Response | Promise<Response> {
  return c.html(
    <NotFoundPage csrf={csrf} title="Unknown certificate">
      No certificate <code>{c.req.param("id") ?? ""}</code> is configured. <a href="/">See every certificate</a>.
    </NotFoundPage>,
    404,
  );
}

export const certHref = (id: string) => `/certs/${encodeURIComponent(id)}`;

/** A region that the cert's events re-fetch from this page's URL. */
function Live(p: { id: string; d: CertPageData; label: string; children?: Child }) {
  return (
    <section id={p.id} aria-label={p.label} data-live={p.d.detail.id} hx-get={p.d.self} hx-trigger="live" hx-select={`#${p.id}`} hx-swap="outerHTML">
      {p.children}
    </section>
  );
}

function daysLeft(days: number): string {
  if (days <= 0) return "expired";
  const whole = Math.floor(days);
  return whole === 0 ? "less than a day left" : `${whole} ${whole === 1 ? "day" : "days"} left`;
}

const THRESHOLD_SOURCE: Record<string, string> = {
  cert: "the cert's renew_threshold_days",
  daemon: "[daemon] renew_threshold_days",
};

function StatusPanel(p: { d: CertPageData }) {
  const { detail, state, now } = p.d;
  const failing = state !== null && state.consecutiveFailures > 0;
  return (
    <Live id="cert-status" d={p.d} label="Status">
      <dl class="facts panel">
        <dt>Status</dt>
        <dd>
          <Badge status={detail.status} />
        </dd>
        <dt>Next</dt>
        <dd>{nextStep(detail, now)}</dd>
        <dt>Expires</dt>
        <dd>
          {detail.not_after ? (
            <>
              <Time iso={detail.not_after} /> <span class="muted">({daysLeft(detail.days_left ?? 0)})</span>
            </>
          ) : (
            <span class="muted">nothing installed</span>
          )}
        </dd>
        <dt>Renews</dt>
        <dd>
          {detail.renew_threshold_days === null ? (
            "lifetime rule"
          ) : (
            `${detail.renew_threshold_days} days before expiry (${THRESHOLD_SOURCE[detail.renew_threshold_source ?? ""] ?? detail.renew_threshold_source})`
          )}
        </dd>
        <dt>Decision</dt>
        <dd class="reason">{detail.reason ?? <span class="muted">not looked at yet</span>}</dd>
        <dt>Next check</dt>
        <dd>
          <Time iso={detail.next_check} />
        </dd>
        {detail.due_since ? (
          <>
            <dt>Needs work since</dt>
            <dd>
              <Time iso={detail.due_since} />
            </dd>
          </>
        ) : null}
        <dt>Cooldown</dt>
        <dd>
          {state?.haltedAt ? (
            <>
              halted since <Time iso={state.haltedAt.toISOString()} /> after {state.authzFailures} authorization failures in a row: fix its DCV, then force a renewal
              {state.lastError ? <p class="error-box">{state.lastError}</p> : null}
            </>
          ) : failing ? (
            <>
              {state.consecutiveFailures} failed {state.consecutiveFailures === 1 ? "renewal" : "renewals"} in a row
              {detail.retry_at ? (
                <>
                  ; next try not before <Time iso={detail.retry_at} />
                </>
              ) : (
                "; the cooldown is over"
              )}
              {state.lastError ? <p class="error-box">{state.lastError}</p> : null}
            </>
          ) : (
            <span class="muted">none</span>
          )}
        </dd>
      </dl>
    </Live>
  );
}

function Refusal(p: { d: CertPageData }) {
  const { refusal, detail } = p.d;
  if (!refusal) return null;
  const running = detail.last_renewal?.status === "running" ? detail.last_renewal : null;
  return (
    <div class="error-box" role="alert" id="renew-refused">
      {refusal === "halted" ? (
        <>
          Not started: renewals stopped after {detail.authz_failures} authorization failures in a row. Fix its DCV, then <strong>Force renewal</strong> clears the halt.
        </>
      ) : refusal === "cooldown" ? (
        <>
          Not started: the cert is cooling down after a failed renewal{detail.retry_at ? <> until <Time iso={detail.retry_at} /></> : null}. <strong>Force renewal</strong> skips the
          cooldown.
        </>
      ) : refusal === "not_leader" ? (
        <>
          {p.d.cluster?.leader
            ? `Not started: ${p.d.cluster.node_id} is a follower; renewals run on the leader ${p.d.cluster.leader} (term ${p.d.cluster.term}): renew there.`
            : "Not started: no node leads right now; try again in a few seconds."}
        </>
      ) : refusal === "not_due" ? (
        <>
          Not started: it is not due ({detail.reason ?? "no decision yet"}). <strong>Force renewal</strong> orders a new certificate anyway.
        </>
      ) : (
        <>
          Not started: a renewal of this cert is already running
          {running ? (
            <>
              {" "}
              (<a href={`/renewals/${encodeURIComponent(running.id)}`}>follow it</a>)
            </>
          ) : null}
          .
        </>
      )}
    </div>
  );
}

function Actions(p: { d: CertPageData; csrf: string }) {
  const action = `${certHref(p.d.detail.id)}/renew`;
  return (
    <div id="actions" class="actions panel">
      <form method="post" action={action}>
        <input type="hidden" name="_csrf" value={p.csrf} />
        <button type="submit" id="renew-now">
          Renew now
        </button>
      </form>
      <details class="force" id="force">
        <summary class="button secondary">Force renewal…</summary>
        <div class="confirm">
          <p>This orders a new certificate now even though it is not due, skips any cooldown and clears a halt. The CA counts it against its rate limits.</p>
          <form method="post" action={action}>
            <input type="hidden" name="_csrf" value={p.csrf} />
            <input type="hidden" name="force" value="1" />
            <button type="submit" class="danger" id="force-confirm">
              Yes, force a renewal
            </button>
          </form>
        </div>
      </details>
      {p.d.installedSerial ? (
        <a class="button secondary" id="download-pem" href={`/api/certs/${encodeURIComponent(p.d.detail.id)}/pem`} download={`${p.d.detail.id}.pem`}>
          Download certificate (PEM)
        </a>
      ) : (
        <p class="muted" id="no-pem">
          {p.d.detail.latest_issued ? "No download yet: no target is known to hold the issued certificate (its install has not succeeded)." : "No download yet: nothing has been issued."}
        </p>
      )}
    </div>
  );
}

function Config(p: { d: CertPageData }) {
  const { detail, caType, dcvType } = p.d;
  return (
    <section id="cert-config" aria-labelledby="config-h">
      <h2 id="config-h">Configuration</h2>
      <dl class="facts panel">
        <dt>Names</dt>
        <dd>
          <ul class="names">
            {detail.domains.map((name) => {
              const unicode = toUnicode(name);
              return (
                <li>
                  <span class="mono">{unicode}</span>
                  {unicode !== name ? <span class="muted mono"> ({name})</span> : null}
                </li>
              );
            })}
          </ul>
        </dd>
        <dt>CA</dt>
        <dd>
          {detail.ca} <span class="muted">{caType ?? ""}</span>
        </dd>
        <dt>Domain validation</dt>
        <dd>
          {detail.dcv === null ? (
            <span class="muted">none (the CA asks for no challenge)</span>
          ) : (
            <>
              {detail.dcv} <span class="muted">{dcvType ?? ""}</span>
            </>
          )}
        </dd>
        <dt>Key type</dt>
        <dd>{detail.key_type}</dd>
      </dl>
    </section>
  );
}

/** What comes of a cert with nothing issued: Renew now is refused in a cooldown or a halt, so the page says what is. */
function NothingIssued(p: { d: CertPageData }) {
  const { status, retry_at } = p.d.detail;
  if (status === "cooldown" && retry_at) {
    return (
      <>
        Nothing issued yet: the last attempt failed, and the next is tried <Time iso={retry_at} /> (the cooldown). Force renewal tries now.
      </>
    );
  }
  if (status === "halted") return <>Nothing issued yet: halted after authorization failures. Fix its DCV, then Force renewal.</>;
  return <>Nothing issued yet: the first renewal orders a certificate. Press Renew now to order it at once.</>;
}

function Issued(p: { d: CertPageData }) {
  const { issued, issuedError } = p.d;
  return (
    <Live id="cert-issued" d={p.d} label="Newest certificate">
      <h2>Newest certificate</h2>
      {issuedError ? (
        <p class="error-box">{issuedError}</p>
      ) : !issued ? (
        <p class="empty panel">
          <NothingIssued d={p.d} />
        </p>
      ) : (
        <dl class="facts panel">
          <dt>Serial</dt>
          <dd class="mono" id="issued-serial">
            {issued.serial}
          </dd>
          <dt>Issuer</dt>
          <dd>{issued.issuer}</dd>
          <dt>Valid from</dt>
          <dd>
            <Time iso={issued.notBefore.toISOString()} />
          </dd>
          <dt>Valid until</dt>
          <dd>
            <Time iso={issued.notAfter.toISOString()} />
          </dd>
          <dt>Issued</dt>
          <dd>
            <Time iso={issued.issuedAt.toISOString()} />
          </dd>
          <dt>SHA-256</dt>
          <dd class="mono">{issued.sha256}</dd>
          <dt>Chain</dt>
          <dd>
            {issued.chain.length === 0 ? (
              <span class="muted">none stored</span>
            ) : (
              <ol class="chain">
                {issued.chain.map((s) => (
                  <li>{s}</li>
                ))}
              </ol>
            )}
          </dd>
        </dl>
      )}
    </Live>
  );
}

function Targets(p: { d: CertPageData }) {
  const { targets } = p.d.detail;
  return (
    <Live id="cert-targets" d={p.d} label="Install targets">
      <h2>Install targets</h2>
      <div class="table-wrap">
        <table>
          <caption class="skip">What each install target serves</caption>
          <thead>
            <tr>
              <th scope="col">Target</th>
              <th scope="col">Serves</th>
              <th scope="col">Until</th>
              <th scope="col">Newest?</th>
            </tr>
          </thead>
          <tbody>
            {targets.map((t) => (
              <tr data-target={t.name}>
                <td>
                  {t.name} <span class="muted">{t.type ?? ""}</span>
                </td>
                <td>{t.error ? <span class="target-error">{t.error}</span> : t.serial ? <span class="mono">{t.serial}</span> : <span class="muted">nothing installed</span>}</td>
                <td class="num">
                  <Time iso={t.not_after} />
                </td>
                <td>{t.serial === null ? <span class="muted">–</span> : t.matches_latest ? <span class="match yes">✓ yes</span> : <span class="match no">✕ no</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Live>
  );
}

function History(p: { d: CertPageData }) {
  const { history, older, paged, historyError, detail } = p.d;
  return (
    <Live id="cert-history" d={p.d} label="Renewals">
      <h2>Renewals</h2>
      {historyError ? <p class="error-box">{historyError}</p> : null}
      {history.length === 0 ? (
        <p class="empty panel">No renewals yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="skip">Renewals of {detail.id}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Status</th>
                <th scope="col">Trigger</th>
                <th scope="col">Took</th>
                <th scope="col" class="hide-narrow">
                  Why / error
                </th>
              </tr>
            </thead>
            <tbody>
              {history.map((r) => (
                <tr id={`renewal-${r.id}`}>
                  <td>
                    <a href={`/renewals/${encodeURIComponent(r.id)}`}>
                      <Time iso={r.startedAt.toISOString()} />
                    </a>
                  </td>
                  <td>
                    <Badge status={r.status} />
                  </td>
                  <td>
                    {r.trigger}
                    {r.installOnly ? <span class="muted"> (re-install)</span> : null}
                  </td>
                  <td class="num">{r.finishedAt ? duration(r.finishedAt.getTime() - r.startedAt.getTime()) : <span class="muted">running</span>}</td>
                  <td class="hide-narrow">{r.error ? <span class="target-error">{r.error}</span> : <span class="muted">{r.reason ?? ""}</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Renewal pages">
        <span class="actions">
          {paged ? <a href={certHref(detail.id)}>← Newest</a> : null}
          {older ? <a href={`${certHref(detail.id)}?before=${encodeURIComponent(older)}`}>Older →</a> : null}
        </span>
      </nav>
    </Live>
  );
}

export function CertPage(p: { d: CertPageData; csrf: string }) {
  const { detail } = p.d;
  return (
    <Layout title={detail.id} csrf={p.csrf} section="overview" liveCert={detail.id}>
      <p class="crumbs">
        <a href="/">Certificates</a> /
      </p>
      <h1>{detail.id}</h1>
      <p class="muted">{detail.domains_unicode.join(", ")}</p>
      <Refusal d={p.d} />
      <StatusPanel d={p.d} />
      <Actions d={p.d} csrf={p.csrf} />
      <Config d={p.d} />
      <Issued d={p.d} />
      <Targets d={p.d} />
      <History d={p.d} />
    </Layout>
  );
}

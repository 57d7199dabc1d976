/**
 * @module The SurrealDB audit schema as an ordered list of migrations; `rota_meta:schema`
 * records how many have run (`version`) and the oldest rota that can still read the
 * result (`min_reader`). Append only, like `migrations.ts`: a released migration is never
 * edited. An additive migration keeps `min_reader`, so during a rolling upgrade the older
 * daemons go on reading and writing beside the newer ones.
 */

export interface SurrealMigration {
  /** SurrealQL run inside the migration's transaction. */
  sql: string;
  /** The lowest schema version a rota must read to use the database after this migration. */
  minReader: number;
}

const nullable = (type: string) => `${type} | null`;
/** A field added to a table that has rows already: those rows hold NONE there (SurrealDB refuses NULL for it). */
const optional = (type: string) => `option<${type}>`;

/** `DEFINE FIELD` lines for one SCHEMAFULL table. */
function table(name: string, fields: Record<string, string>, indexes: Record<string, string> = {}): string {
  return [
    `DEFINE TABLE ${name} SCHEMAFULL;`,
    ...Object.entries(fields).map(([field, type]) => `DEFINE FIELD ${field} ON ${name} TYPE ${type};`),
    ...Object.entries(indexes).map(([index, fields]) => `DEFINE INDEX ${index} ON ${name} FIELDS ${fields};`),
  ].join("\n");
}

export const SURREAL_MIGRATIONS: readonly SurrealMigration[] = [
  // 1: everything the SQLite store holds at its version 7. Records are keyed like SQLite's
  // rows (`renewal:⟨id⟩`, `renewal_event:[renewal_id, seq]`, `issued_cert:[cert_id, serial]`),
  // so a write sent again after a timeout lands on the same record. `inserted_at` is the
  // server's clock: it orders rows with the same start, as SQLite's rowid does. `newest` is
  // that order as one ascending key (see `surreal.ts`): engine 3.0 reads an index in
  // ascending order only, so the newest-first page is its first entries. `owner` is the
  // node that wrote the renewal. Chains are stored once, keyed by their SHA-256.
  {
    minReader: 1,
    sql: [
      table(
        "renewal",
        {
          cert_id: "string",
          trigger: "string",
          install_only: "bool",
          reason: nullable("string"),
          status: "string",
          started_at: "datetime",
          finished_at: nullable("datetime"),
          error: nullable("string"),
          owner: "string",
          inserted_at: "datetime",
          newest: "string",
        },
        { renewal_cert: "cert_id, started_at", renewal_started: "started_at", renewal_status: "status", renewal_newest: "newest" },
      ),
      table(
        "renewal_event",
        { renewal_id: "string", seq: "int", step: "string", at: "datetime", status: "string", message: "string", duration_ms: "int" },
        { renewal_event_renewal: "renewal_id" },
      ),
      table("issued_chain", { pem: "string" }),
      table(
        "issued_cert",
        {
          cert_id: "string",
          serial: "string",
          renewal_id: "string",
          leaf_pem: "string",
          chain: "record<issued_chain>",
          not_before: "datetime",
          not_after: "datetime",
          issued_at: "datetime",
          key_type: nullable("string"),
          names: nullable("string"),
        },
        { issued_cert_newest: "cert_id, not_after, issued_at" },
      ),
      table("target_install", { cert_id: "string", target: "string", serial: "string", installed_at: "datetime" }, { target_install_cert: "cert_id" }),
      table("cert_state", {
        cert_id: "string",
        consecutive_failures: "int",
        retry_at: nullable("datetime"),
        last_error: nullable("string"),
        authz_failures: "int",
        halted_at: nullable("datetime"),
      }),
      // The plan's times as epoch ms, as SQLite's columns (renewal-plan.ts maps both ways).
      table("renewal_plan", {
        cert_id: "string",
        serial: "string",
        renew_at: "int",
        reason: "string",
        ari_cert_id: nullable("string"),
        ari_start: nullable("int"),
        ari_end: nullable("int"),
        ari_explanation_url: nullable("string"),
        ari_polled_at: nullable("int"),
        ari_next_poll_at: nullable("int"),
        ari_error: nullable("string"),
      }),
      table("alert_limit", { sink: "string", key: "string", last_sent_at: "datetime", held: "int", held_since: nullable("datetime"), last_error: nullable("string") }),
      table(
        "alert_delivery",
        {
          alert_id: "string",
          sink: "string",
          event: "string",
          cert_id: nullable("string"),
          at: "datetime",
          outcome: "string",
          error: nullable("string"),
          attempts: "int",
          inserted_at: "datetime",
        },
        { alert_delivery_at: "at" },
      ),
      table("rota_meta", { version: "int", min_reader: "int" }),
    ].join("\n"),
  },
  // 2: cluster mode (issue 17), additive. The lease is one record that exists from here on:
  // acquisition only ever UPDATEs it (an UPSERT race on a missing record once gave two
  // winners). `term`/`node` on issued_cert and `node` on renewal: NONE on the rows of a
  // single node. A node's per-cert report (`certs`) is its JSON text, read back whole.
  {
    minReader: 1,
    sql: [
      table("cluster_lock", {
        holder: optional("string"),
        instance: optional("string"),
        term: "int",
        expires: "datetime",
        acquired_at: optional("datetime"),
        last_fenced_write: optional("datetime"),
      }),
      "CREATE cluster_lock:singleton SET holder = NONE, instance = NONE, term = 0, expires = time::now() RETURN NONE;",
      table("cluster_node", { node_id: "string", role: "string", heartbeat: "datetime", version: "string", instance: optional("string"), certs: "string" }),
      table(
        "cluster_event",
        { at: "datetime", node_id: "string", type: "string", term: nullable("int"), cert_id: nullable("string"), serial: nullable("string"), detail: "string", inserted_at: "datetime" },
        { cluster_event_at: "at" },
      ),
      `DEFINE FIELD term ON issued_cert TYPE ${optional("int")};`,
      `DEFINE FIELD node ON issued_cert TYPE ${optional("string")};`,
      `DEFINE FIELD node ON renewal TYPE ${optional("string")};`,
    ].join("\n"),
  },
  // 3: install records per node (issue 17), additive. In cluster mode every node installs the
  // same serial on its own same-named targets: a record keyed by cert and target alone made
  // one node's install pass for every node's (a `command` target, which cannot read back,
  // was then never installed there). A cluster node's records are keyed
  // `target_install:[cert_id, target, node]` and carry `node`; a single node's stay as they were.
  {
    minReader: 1,
    sql: `DEFINE FIELD node ON target_install TYPE ${optional("string")};`,
  },
  // 4: the fingerprint of the order inputs a failed renewal used, beside its cooldown
  // (scheduler/order-inputs.ts), additive: NONE on the states of older rotas and after a success.
  {
    minReader: 1,
    sql: `DEFINE FIELD inputs ON cert_state TYPE ${optional("string")};`,
  },
  // 5: each certificate's `stored_at`, the server's clock when the record was written: the
  // newest certificate is the one stored last, not the one that expires last (a lifetime cut
  // made the older, longer certificate "newest", and targets were rolled back to it). The
  // server stamps it (a DEFAULT, on every write), so an older rota's writes are stamped as
  // well and the order holds through a rolling upgrade; one clock for every node, not each
  // node's. Rows stored before take their `issued_at` (the writing daemon's clock).
  {
    minReader: 1,
    sql: [
      `DEFINE FIELD stored_at ON issued_cert TYPE ${optional("datetime")} DEFAULT ALWAYS time::now();`,
      "UPDATE issued_cert SET stored_at = issued_at RETURN NONE;",
      "REMOVE INDEX issued_cert_newest ON issued_cert;",
      "DEFINE INDEX issued_cert_stored ON issued_cert FIELDS cert_id, stored_at;",
    ].join("\n"),
  },
  // 6: which daemon uses each cert id, additive. Daemons without [cluster] sharing a database
  // share its records by cert id (cooldowns, issued certificates, plans): two of them with a
  // cert `www` for other names reordered it in turn at every look, and one's failures cooled
  // the other's down. A daemon claims its cert ids at start and reload, and is refused an id
  // another daemon holds. Older rotas ignore the table.
  {
    minReader: 1,
    sql: table("cert_claim", { owner: "string", claimed_at: "datetime" }),
  },
];

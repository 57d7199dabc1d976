/**
 * @module SQLite schema as an ordered list of migrations; `PRAGMA user_version` says how
 * many have run. Append only: a released migration is never edited. A migration is SQL,
 * or a function for what SQL cannot do (parsing the certificates already stored).
 */
import type { Database } from "bun:sqlite";
import { summaryColumns } from "./issued-summary.ts";

export type Migration = string | ((db: Database) => void);

/** Runs one migration on `db` (the caller holds the transaction and sets the version). */
export function applyMigration(db: Database, migration: Migration): void {
  if (typeof migration === "string") db.exec(migration);
  else migration(db);
}

export const MIGRATIONS: readonly Migration[] = [
  // 1: renewals and their step events.
  `CREATE TABLE renewal (
     id TEXT PRIMARY KEY,
     cert_id TEXT NOT NULL,
     trigger TEXT NOT NULL,
     status TEXT NOT NULL,
     started_at INTEGER NOT NULL,
     finished_at INTEGER,
     error TEXT
   );
   CREATE INDEX renewal_cert ON renewal (cert_id, started_at);
   CREATE TABLE renewal_event (
     renewal_id TEXT NOT NULL REFERENCES renewal (id),
     seq INTEGER NOT NULL,
     step TEXT NOT NULL,
     at INTEGER NOT NULL,
     status TEXT NOT NULL,
     message TEXT NOT NULL,
     duration_ms INTEGER NOT NULL,
     PRIMARY KEY (renewal_id, seq)
   );`,
  // 2: issued certificates for install convergence, per-cert failure state, install-only runs.
  `ALTER TABLE renewal ADD COLUMN install_only INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE issued_cert (
     serial TEXT NOT NULL,
     cert_id TEXT NOT NULL,
     renewal_id TEXT NOT NULL,
     leaf_pem TEXT NOT NULL,
     chain_pem TEXT NOT NULL,
     not_before INTEGER NOT NULL,
     not_after INTEGER NOT NULL,
     issued_at INTEGER NOT NULL,
     PRIMARY KEY (cert_id, serial)
   );
   CREATE INDEX issued_cert_latest ON issued_cert (cert_id, not_after);
   CREATE TABLE cert_state (
     cert_id TEXT PRIMARY KEY,
     consecutive_failures INTEGER NOT NULL,
     retry_at INTEGER,
     last_error TEXT
   );`,
  // 3: the serial each target last installed successfully (targets that cannot read back
  // are taken to serve it), and the decision reason that started each run.
  `CREATE TABLE target_install (
     cert_id TEXT NOT NULL,
     target TEXT NOT NULL,
     serial TEXT NOT NULL,
     installed_at INTEGER NOT NULL,
     PRIMARY KEY (cert_id, target)
   );
   ALTER TABLE renewal ADD COLUMN reason TEXT;`,
  // 4: the audit search walks renewals newest first, whatever the cert (the rowid rides along in the index).
  `CREATE INDEX renewal_started ON renewal (started_at);`,
  // 5: the alert repeat limit per (sink, cert or event type), so a restart does not re-send,
  // and every delivery attempt's outcome.
  `CREATE TABLE alert_limit (
     sink TEXT NOT NULL,
     key TEXT NOT NULL,
     last_sent_at INTEGER NOT NULL,
     held INTEGER NOT NULL,
     held_since INTEGER,
     last_error TEXT,
     PRIMARY KEY (sink, key)
   );
   CREATE TABLE alert_delivery (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     alert_id TEXT NOT NULL,
     sink TEXT NOT NULL,
     event TEXT NOT NULL,
     cert_id TEXT,
     at INTEGER NOT NULL,
     outcome TEXT NOT NULL,
     error TEXT,
     attempts INTEGER NOT NULL
   );`,
  // 6: each distinct chain (the intermediates) stored once, not on every issued row; the
  // summary a scheduler tick reads (key type, names) beside serial and validity, so a tick
  // reads no PEM (names are a JSON array; both are NULL for a leaf that cannot be parsed);
  // and an index in the newest-first order itself, so finding a cert's newest sorts nothing.
  (db) => {
    db.exec(`CREATE TABLE issued_chain (
               id INTEGER PRIMARY KEY,
               pem TEXT NOT NULL UNIQUE
             );
             INSERT OR IGNORE INTO issued_chain (pem) SELECT chain_pem FROM issued_cert;
             ALTER TABLE issued_cert ADD COLUMN chain_id INTEGER REFERENCES issued_chain (id);
             UPDATE issued_cert SET chain_id = (SELECT c.id FROM issued_chain c WHERE c.pem = issued_cert.chain_pem);
             ALTER TABLE issued_cert DROP COLUMN chain_pem;
             ALTER TABLE issued_cert ADD COLUMN key_type TEXT;
             ALTER TABLE issued_cert ADD COLUMN names TEXT;
             DROP INDEX issued_cert_latest;
             CREATE INDEX issued_cert_newest ON issued_cert (cert_id, not_after, issued_at);`);
    const fill = db.query("UPDATE issued_cert SET key_type = $keyType, names = $names WHERE cert_id = $cert AND serial = $serial");
    for (const row of db.query("SELECT cert_id, serial, leaf_pem FROM issued_cert").all() as { cert_id: string; serial: string; leaf_pem: string }[]) {
      fill.run({ cert: row.cert_id, serial: row.serial, ...summaryColumns(row.leaf_pem) });
    }
  },
  // 7: each cert's renewal plan: when its newest certificate renews and why, and what the
  // CA's ARI last said about it (so a restart neither polls again early nor forgets the window);
  // authorization failures in a row (reset only by a success) and the halt they lead to.
  `CREATE TABLE renewal_plan (
     cert_id TEXT PRIMARY KEY,
     serial TEXT NOT NULL,
     renew_at INTEGER NOT NULL,
     reason TEXT NOT NULL,
     ari_cert_id TEXT,
     ari_start INTEGER,
     ari_end INTEGER,
     ari_explanation_url TEXT,
     ari_polled_at INTEGER,
     ari_next_poll_at INTEGER,
     ari_error TEXT
   );
   ALTER TABLE cert_state ADD COLUMN authz_failures INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE cert_state ADD COLUMN halted_at INTEGER;`,
  // 8: the rows still running, which every start closes as interrupted: a partial index holds
  // only those, so the start reads them alone, not every renewal ever made (issue 11).
  `CREATE INDEX renewal_running ON renewal (status) WHERE status = 'running';`,
  // 9: the fingerprint of the order inputs a failed renewal used, beside its cooldown: a start
  // on a config that changed them ends the cooldown (scheduler/order-inputs.ts).
  `ALTER TABLE cert_state ADD COLUMN inputs TEXT;`,
  // 10: each cert's certificates numbered in the order the store received them (`seq`): the
  // newest is the one stored last, not the one that expires last (a lifetime cut made the
  // older, longer certificate "newest", and targets were rolled back to it). Rows stored
  // before are numbered by when they were stored (the daemon's clock), then by insertion.
  `ALTER TABLE issued_cert ADD COLUMN seq INTEGER;
   UPDATE issued_cert SET seq = n.seq
     FROM (SELECT rowid AS rid, ROW_NUMBER() OVER (PARTITION BY cert_id ORDER BY issued_at, rowid) AS seq FROM issued_cert) n
     WHERE issued_cert.rowid = n.rid;
   DROP INDEX issued_cert_newest;
   CREATE INDEX issued_cert_newest ON issued_cert (cert_id, seq);`,
];

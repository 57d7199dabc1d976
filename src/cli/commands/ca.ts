/**
 * @module `rota ca root [CA_NAME]`: the built-in CA's root certificate on stdout, for
 * trust stores (what `mkcert -CAROOT` users look for). Reads the state folder directly:
 * no daemon needed.
 */
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { currentRootPath, localCaSections } from "../../backends/ca/local/layout.ts";
import type { RotaConfig } from "../../config/schema.ts";
import { CliExit, EXIT } from "../exit.ts";
import { loadConfigOrExit } from "../load-config.ts";
import { connectionArgs } from "../target.ts";

/** The local CA the user means: the one named, or the only one. */
function chooseLocalCa(config: RotaConfig, name: string | undefined): string {
  const locals = localCaSections(config.cas).map((c) => c.name);
  const known = locals.length > 0 ? `local CAs: ${locals.join(", ")}` : 'no [[ca]] has type = "local"';
  if (name === undefined) {
    if (locals.length === 1) return locals[0]!;
    throw new CliExit(EXIT.usage, locals.length === 0 ? `rota: ${known} in ${config.file}` : `rota: name the CA (${known})`);
  }
  if (locals.includes(name)) return name;
  const other = config.cas.find((c) => c.name === name);
  throw new CliExit(EXIT.usage, other ? `rota: ca ${JSON.stringify(name)} has type ${other.type}, not local (${known})` : `rota: no ca named ${JSON.stringify(name)} (${known})`);
}

const root = defineCommand({
  meta: { name: "root", description: "Print a local CA's root certificate (PEM), to import into trust stores" },
  args: {
    ca: { type: "positional", required: false, description: 'A [[ca]] of type "local"; needed only when there are several' },
    config: connectionArgs.config,
  },
  async run({ args }) {
    const config = loadConfigOrExit(args.config);
    const name = chooseLocalCa(config, args.ca);
    const path = currentRootPath(config.daemon.stateDir, config.cas, name);
    let pem: string;
    try {
      pem = readFileSync(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        if (config.cluster.enabled) {
          throw new CliExit(EXIT.failed, `rota: local CA ${JSON.stringify(name)} has no root on this node (${path}); in cluster mode rota never creates one: copy root.key and root.pem from the node that made them`);
        }
        throw new CliExit(EXIT.failed, `rota: local CA ${JSON.stringify(name)} has no root yet: it is created at its first issuance (${path})`);
      }
      throw new CliExit(EXIT.failed, `rota: cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    process.stdout.write(pem);
  },
});

export default defineCommand({
  meta: { name: "ca", description: "The built-in local CA (rota ca root prints its root certificate)" },
  subCommands: { root },
});

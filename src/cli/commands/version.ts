/** @module `rota version [--json]`; the JSON form is what install.sh's smoke test reads. */
import { defineCommand } from "citty";
import { COMMIT, TARGET, VERSION } from "../version.ts";
import { say } from "../output.ts";

export default defineCommand({
  meta: { name: "version", description: "Print the version" },
  args: { json: { type: "boolean", description: "Version, target, commit and Bun runtime as JSON" } },
  run({ args }) {
    say(args.json ? JSON.stringify({ version: VERSION, target: TARGET, commit: COMMIT, bun: Bun.version }) : `rota ${VERSION}`);
  },
});

/** @module `rota version`. */
import { defineCommand } from "citty";
import { VERSION } from "../version.ts";

export default defineCommand({
  meta: { name: "version", description: "Print the version" },
  run() {
    console.log(`rota ${VERSION}`);
  },
});

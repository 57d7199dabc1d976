/** @module Preloaded by `bun test` (bunfig.toml): end-to-end suites start real servers and need more than 5 s. */
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(120_000);

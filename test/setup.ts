/**
 * @module Preloaded by `bun test` (bunfig.toml): end-to-end suites start real servers and need
 * more than 5 s. With Bun 1.4 this reaches only the first file of a run; `npm test` also passes
 * `--timeout` (scripts/test.sh), which reaches every file.
 */
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(120_000);

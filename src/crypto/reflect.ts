/**
 * @module Evaluates `reflect-metadata` when imported. x509.ts imports this ESM module rather
 * than the CommonJS package itself: Bun 1.4.5's minifier, splitting chunks, wraps a dynamic
 * import of CommonJS in `.then((m) => m(m.default, 1))` whenever its interop helper's short name
 * happens to be `m` too, and the binary then fails every renewal ("m is not a function").
 */
import "reflect-metadata";

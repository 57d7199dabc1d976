/**
 * @module Evaluates `reflect-metadata` (which @peculiar/x509 needs first) as a static
 * side-effect import. `x509()` imports this module rather than the package itself: Bun's
 * minifier (1.4.5, with --splitting) can give the CommonJS interop helper of a dynamic
 * `import("reflect-metadata")` the same name as that call's own callback parameter
 * (`.then((m) => m(m.default, 1))`), and the CA then fails with "m is not a function".
 */
import "reflect-metadata";

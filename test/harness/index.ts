/** @module End-to-end test harness: real pebble, nginx and the compiled rota on loopback. */
export * from "./ports.ts";
export * from "./tmp.ts";
export * from "./proc.ts";
export * from "./certs.ts";
export * from "./challtestsrv.ts";
export * from "./pebble.ts";
export * from "./nginx.ts";
export * from "./rota.ts";
export * from "./hangfs.ts";
export * from "./knot.ts";
export * from "./haproxy.ts";

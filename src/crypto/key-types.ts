/**
 * @module The private key types a cert may ask for. Apart from keys.ts, which loads
 * `node:crypto` (some 10 ms of a start): validation needs only the names.
 */
export const KEY_TYPES = ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"] as const;
export type KeyType = (typeof KEY_TYPES)[number];

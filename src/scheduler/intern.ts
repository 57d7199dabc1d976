/**
 * @module One string per text in what the scheduler keeps per cert. A structured clone
 * (`Scheduler.compact`) copies every string it meets, so at 10,000 certs the same few texts
 * ("none", "lifetime", a target's name, a key type, the cert's serial in its look, parse and
 * plan) were held as some 100,000 strings of their own, about 3 MiB (issue 11).
 */

/** Texts met so far, each with the one string that stands for it. */
export type Texts = Map<string, string>;

/** The string standing for `text`'s text in `texts`: the first one met. */
export function intern(texts: Texts, text: string): string {
  const had = texts.get(text);
  if (had !== undefined) return had;
  texts.set(text, text);
  return text;
}

/**
 * `value` with every string it holds through plain objects and arrays replaced, in place, by
 * the one `texts` has for its text. Other objects (a Date) are left as they are; so is
 * anything reached twice, which the first visit already did.
 */
export function internAll<T>(texts: Texts, value: T): T {
  if (typeof value === "string") return intern(texts, value) as T;
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = internAll(texts, value[i]);
    return value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = internAll(texts, record[key]);
  return value;
}

/**
 * @module What the CLI prints. Much of it is text rota did not write: a CA's or a DNS
 * vendor's error, a webhook receiver's reply, a mail server's answer, stored in the audit
 * trail and shown later. A terminal obeys the control sequences in such text (erase a line,
 * move up, set the window title), so every human line goes out with them escaped; `--json`
 * output is JSON, escaped the same way where JSON.stringify leaves a character raw.
 */

/**
 * C0 controls but tab and newline (layout in a multi-line error), DEL, and C1 controls
 * (U+0080–U+009F: some terminals take U+009B as CSI).
 */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `text` with each control character written as `\r`, `\uXXXX`, so it shows instead of acting. */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL, (c) => (c === "\r" ? "\\r" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
}

/** A line for a person, on stdout. */
export function say(text: string): void {
  console.log(terminalSafe(text));
}

/** A line for a person, on stderr. */
export function sayError(text: string): void {
  console.error(terminalSafe(text));
}

/**
 * `value` as indented JSON on stdout. JSON.stringify escapes C0 but leaves DEL and C1 raw;
 * those can only stand inside a JSON string, where `\u` escapes read back the same.
 */
export function sayJson(value: unknown): void {
  say(JSON.stringify(value, null, 2));
}

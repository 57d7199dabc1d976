/**
 * @module DSM's error codes in words. DSM answers HTTP 200 with `{"success":false,
 * "error":{"code":N}}`; the codes are those of the Web API guide (Auth: 400–410; common:
 * 105, 106, 107, 119). Which codes need a person (`latches`) and which a new session
 * (`sessionLost`) is decided here, once.
 */

/** What went wrong in words, for `code` answered to a login that did (`tokenSent`) or did not carry a device token. */
export function dsmErrorText(code: number, opts: { tokenSent?: boolean } = {}): string {
  switch (code) {
    case 105:
      return "the account is not an administrator (add it to the administrators group)";
    case 106:
      return "session timed out";
    case 107:
      return "session interrupted by a login elsewhere";
    case 119:
      return "session invalid";
    case 400:
      return "wrong account or password";
    case 401:
      return "the account is disabled";
    case 402:
      return "permission denied (the account may not log in to DSM)";
    case 403:
      return opts.tokenSent ? "device token rejected (expired or revoked)" : "2-step verification code needed";
    case 404:
      return "wrong 2-step verification code";
    case 406:
      return "2-step verification is enforced but not set up for this account";
    case 407:
      return "DSM auto block: too many failed logins from this address";
    case 408:
    case 409:
    case 410:
      return "the password has expired and must be changed";
    default:
      return `DSM error ${code}`;
  }
}

/**
 * Login failures only a person can fix: trying again repeats a bad login, which counts
 * towards DSM's auto block. 407 (the block itself) lifts by itself and is retried.
 */
export function latches(code: number): boolean {
  return (code >= 400 && code <= 404) || code === 406 || (code >= 408 && code <= 410);
}

/**
 * What a person does about a login refused with `code` (one that `latches`), ending with the
 * `rota dsm login` that clears the latch: a code or device token problem needs a 2-step
 * code, which a new password would not fix (docs/dsm.md).
 */
export function latchFix(code: number, name: string): string {
  switch (code) {
    case 403:
    case 404:
      return `log in with a current 2-step verification code, which stores a new device token: rota dsm login ${name} --otp CODE`;
    case 406:
      return `set up 2-step verification for the account in DSM (Personal › Security), then: rota dsm login ${name} --otp CODE`;
    case 401:
      return `enable the account in DSM, then run: rota dsm login ${name}`;
    case 408:
    case 409:
    case 410:
      return `change the account's password in DSM and in password_file or password_env, then run: rota dsm login ${name}`;
    default:
      return `fix the account or password, then run: rota dsm login ${name}`;
  }
}

/** The session is gone: log in again and retry the call once. */
export function sessionLost(code: number): boolean {
  return code === 106 || code === 107 || code === 119;
}

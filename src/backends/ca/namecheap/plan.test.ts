/** @module The status → action table (issue 13 §3), row by row, and the plan-used-up rule. */
import { describe, expect, test } from "bun:test";
import { actionFor, planUsedUp } from "./plan.ts";
import type { PendingRequest } from "./state.ts";

const records = [{ domain: "shop.example.com", hostName: "_7f3a.shop.example.com", target: "1a2b.c3d4.sectigo.com" }];
const ours: PendingRequest = { from_id: 1001, command: "reissue", csr: "CSR", started_at: "2030-01-01T00:00:00.000Z", certificate_id: 1002, records };
const lost: PendingRequest = { from_id: 1001, command: "reissue", csr: "CSR", started_at: "2030-01-01T00:00:00.000Z" };
const info = (status: string, statusDescription = "") => ({ status, statusDescription });

describe("actionFor", () => {
  test("purchased with the request rota started: resume it with its records", () => {
    expect(actionFor(1002, info("purchased"), ours, "shop")).toEqual({ do: "resume", records });
    expect(actionFor(1002, info("PURCHASED"), ours, "shop")).toEqual({ do: "resume", records });
  });

  test("active with the request rota started: collect it", () => {
    expect(actionFor(1002, info("Active"), ours, "shop")).toEqual({ do: "collect" });
  });

  test("purchased otherwise: someone else's request, or one whose reply was lost", () => {
    expect(actionFor(3001, info("purchased"), null, "shop")).toEqual({
      do: "refuse",
      message: "certificate 3001 has a request pending that rota did not start; finish or cancel it at Namecheap, then rota renew shop --force",
    });
    expect(actionFor(1002, info("purchased"), ours, "shop").do).toBe("resume");
    expect(actionFor(1003, info("purchased"), ours, "shop").do).toBe("refuse");
    expect(actionFor(1002, info("purchased"), lost, "shop")).toEqual({
      do: "refuse",
      message:
        "certificate 1002 has a request pending whose reply rota never got (it stopped during namecheap.ssl.reissue on certificate 1001, started 2030-01-01T00:00:00.000Z); finish or cancel it at Namecheap, then rota renew shop --force",
    });
  });

  test("new purchases and renewals are activated, active ones reissued", () => {
    expect(actionFor(2001, info("newpurchase"), null, "shop")).toEqual({ do: "activate" });
    expect(actionFor(2001, info("NewRenewal"), null, "shop")).toEqual({ do: "activate" });
    expect(actionFor(1001, info("active"), null, "shop")).toEqual({ do: "reissue" });
    // A pending request for another id does not make an active certificate ours.
    expect(actionFor(1001, info("active"), ours, "shop")).toEqual({ do: "reissue" });
  });

  test("anything else is refused, naming Status and StatusDescription", () => {
    expect(actionFor(1001, info("cancelled", "Certificate was cancelled"), null, "shop")).toEqual({
      do: "refuse",
      message: "certificate 1001 is cancelled (Certificate was cancelled); rota can neither activate nor reissue it",
    });
  });
});

describe("planUsedUp", () => {
  const day = 86_400_000;
  const at = (d: number) => new Date(Date.UTC(2030, 0, 1) + d * day);
  test("a leaf cut short that gains less than a day on the previous one", () => {
    expect(planUsedUp({ notBefore: at(0), notAfter: at(0.04) }, at(0.04))).toBe(true);
    expect(planUsedUp({ notBefore: at(0), notAfter: at(29) }, at(28.5))).toBe(true);
  });
  test("a full-length leaf, one that gains a day, or no previous leaf: not used up", () => {
    expect(planUsedUp({ notBefore: at(0), notAfter: at(199) }, at(150))).toBe(false);
    expect(planUsedUp({ notBefore: at(0), notAfter: at(20) }, at(18))).toBe(false);
    expect(planUsedUp({ notBefore: at(0), notAfter: at(1) }, null)).toBe(false);
  });
});

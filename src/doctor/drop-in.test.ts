import { expect, test } from "bun:test";
import { DROP_IN_PATH, renderDropIn, withDropIn } from "./drop-in.ts";
import type { Finding } from "./report.ts";

const FOLDER = ["CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER", "CAP_KILL"];

test("an nginx and a haproxy folder, nginx -t and its reload as the service user: ONE drop-in under the first, every folder and capability once; the others point to it", () => {
  const findings: Finding[] = [
    { id: "state_dir", status: "ok", message: "fine" },
    { id: "install:web", status: "fail", message: "/srv/nginx/certs is not writable by nobody", hint: "give the folder to the service user's group (chgrp nogroup /srv/nginx/certs && chmod 2770 /srv/nginx/certs)", dropIn: { paths: ["/srv/nginx/certs"], capabilities: FOLDER } },
    { id: "install:web", status: "warn", message: "nginx -t runs as nobody", hint: "set test_command", dropIn: { paths: ["/var/log/nginx", "/run"], capabilities: ["CAP_DAC_OVERRIDE", "CAP_NET_BIND_SERVICE"] } },
    { id: "install:web", status: "warn", message: "nginx -s reload", dropIn: { paths: [], capabilities: ["CAP_KILL"] } },
    { id: "install:lb", status: "fail", message: "/srv/haproxy/certs is not writable by nobody", hint: "give the folder to the service user's group (chgrp nogroup /srv/haproxy/certs && chmod 2770 /srv/haproxy/certs)", dropIn: { paths: ["/srv/haproxy/certs"], capabilities: FOLDER } },
  ];
  const out = withDropIn(findings);
  expect(out.map((f) => f.hint)).toEqual([
    undefined,
    [
      `give the folder to the service user's group (chgrp nogroup /srv/nginx/certs && chmod 2770 /srv/nginx/certs); or under systemd, add ${DROP_IN_PATH} (one file, for every finding that needs it):`,
      "[Service]",
      "ReadWritePaths=/srv/nginx/certs /var/log/nginx /run /srv/haproxy/certs",
      "AmbientCapabilities=CAP_DAC_OVERRIDE CAP_CHOWN CAP_FOWNER CAP_KILL CAP_NET_BIND_SERVICE",
      "CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_CHOWN CAP_FOWNER CAP_KILL CAP_NET_BIND_SERVICE",
      "then: systemctl daemon-reload && systemctl restart rota (docs/install.md)",
    ].join("\n"),
    `set test_command; or under systemd, the drop-in ${DROP_IN_PATH} shown under install:web above covers this too`,
    `under systemd, the drop-in ${DROP_IN_PATH} shown under install:web above covers this too`,
    `give the folder to the service user's group (chgrp nogroup /srv/haproxy/certs && chmod 2770 /srv/haproxy/certs); or under systemd, the drop-in ${DROP_IN_PATH} shown under install:web above covers this too`,
  ]);
  expect(out.filter((f) => "dropIn" in f)).toEqual([]);
  expect(out.filter((f) => f.hint?.includes("[Service]"))).toHaveLength(1);
});

test("no finding needs a drop-in: the findings as they were", () => {
  const findings: Finding[] = [{ id: "keys", status: "fail", message: "0644", hint: "chmod 600 k" }];
  expect(withDropIn(findings)).toEqual(findings);
});

test("capabilities alone: no ReadWritePaths line; one the docs do not list comes after theirs", () => {
  expect(renderDropIn([{ paths: [], capabilities: ["CAP_SYS_TIME", "CAP_KILL"] }, { paths: [], capabilities: ["CAP_CHOWN"] }])).toEqual([
    "[Service]",
    "AmbientCapabilities=CAP_CHOWN CAP_KILL CAP_SYS_TIME",
    "CapabilityBoundingSet=CAP_CHOWN CAP_KILL CAP_SYS_TIME",
  ]);
});

#!/usr/bin/env node
// Regenerates the built-in mockup from a DMTF mockup folder (short form), keeping the resources a
// server's BMC needs for Anvil (systems, chassis, sensors, power, thermal, managers, sessions, logs)
// and dropping certificate, update, virtual-media and similar trees nobody here reads.
//   node src/lab/redfish-sim/builtin/trim-mockup.mjs ../shared/redfish-mockups/public-rackmount1 > src/lab/redfish-sim/builtin/public-rackmount1.json
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const DROP = /\/(Certificates|CertificateService|OutboundConnections|UpdateService|VirtualMedia|SecureBoot|GraphicsControllers|USBControllers|TrustedComponents|Controls|EnvironmentMetrics|CompositionService|EventService|Bios|KeyService|LicenseService|ComponentIntegrity|Registries|JsonSchemas|TelemetryService|Tasks|AggregationService|SecurityPolicy)(\/|$)/;
const docs = {};
const walk = (dir, url) => {
  for (const entry of readdirSync(dir).sort()) {
    const full = join(dir, entry);
    if (entry === 'index.json') {
      const doc = JSON.parse(readFileSync(full, 'utf8'));
      delete doc['@Redfish.Copyright'];
      if (!DROP.test(url)) docs[url] = doc;
    } else if (statSync(full).isDirectory()) walk(full, `${url}/${entry}`);
  }
};
walk(process.argv[2], '/redfish/v1');
const lines = Object.entries(docs).map(([path, doc]) => `    ${JSON.stringify(path)}: ${JSON.stringify(doc)}`);
process.stdout.write(`{\n  "source": "DMTF Redfish-Publications mockups/${process.argv[2].split('/').filter(Boolean).pop()} (commit 26c949654e3e510800b05fa8d39cf336f10fa687), trimmed by trim-mockup.mjs",\n  "license": "BSD-3-Clause, Copyright (c) 2014-2025 Contributing Member(s) of Distributed Management Task Force, Inc.; see LICENSE in this folder",\n  "docs": {\n${lines.join(',\n')}\n  }\n}\n`);

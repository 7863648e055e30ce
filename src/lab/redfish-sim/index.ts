export { startRedfishSimFleet, simCertificate, type RedfishSimFleet, type RedfishSimFleetOptions, type SimCertificate } from './fleet.js';
export { RedfishSimInstance, generatedMac, type SimFault, type SimFaultOptions, type SimHealthChange, type SimPowerChange } from './instance.js';
export { loadMockup, resolveMockupsDir, type Mockup } from './mockups.js';

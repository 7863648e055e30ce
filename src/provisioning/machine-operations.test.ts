import { hardwareFacts, macMismatch } from './machine-operations.js';

describe('inspection facts', () => {
  it('flags MACs the BMC reports that inventory lacks, and the reverse', () => {
    expect(macMismatch(['AA:BB:CC:00:00:01', 'aa:bb:cc:00:00:02'], ['aa:bb:cc:00:00:01', 'aa:bb:cc:00:00:03'])).toEqual({
      missing_in_inventory: ['aa:bb:cc:00:00:02'],
      missing_on_machine: ['aa:bb:cc:00:00:03'],
    });
    expect(macMismatch(['aa:bb:cc:00:00:01'], ['AA:BB:CC:00:00:01'])).toBeNull();
  });

  it('stores the facts in snake_case with CPU, memory, disks and NICs', () => {
    const facts = hardwareFacts({
      vendor: 'Contoso', model: '3500', serial: '437XR1138R2', biosVersion: 'P79 v1.45', bmcFirmwareVersion: '1.00',
      cpus: { model: 'Intel Xeon', count: 2, coresTotal: 16 }, memoryGiB: 96,
      disks: [{ name: 'Disk 0', sizeGiB: 900, mediaType: 'hdd' }], nics: [{ name: 'eth0', mac: '12:44:6a:3b:04:11' }],
    });
    expect(facts).toMatchObject({ cpu_model: 'Intel Xeon', cpu_count: 2, memory_gib: 96, disks: [{ name: 'Disk 0', size_gib: 900, media: 'hdd' }], nics: [{ mac: '12:44:6a:3b:04:11' }] });
  });
});

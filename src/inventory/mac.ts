/**
 * MAC addresses are stored and compared in one form: lower-case hex pairs separated by colons
 * (`aa:bb:cc:dd:ee:ff`), the form DHCP lookups and BMC inventories are normalised to.
 */

/**
 * Accepted spellings: `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF` (Windows), `aabb.ccdd.eeff`
 * (Cisco) and bare `aabbccddeeff`, in either case. Mixed separators are refused because they
 * usually mean a typo. Written without regex flags so it survives OpenAPI export.
 */
export const MAC_INPUT_PATTERN =
  '^([0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}([.][0-9A-Fa-f]{4}){2}|[0-9A-Fa-f]{12})$';

const MAC_INPUT = new RegExp(MAC_INPUT_PATTERN);

/** Returns the canonical form, or null when `value` is not a MAC address in an accepted spelling. */
export function normaliseMac(value: string): string | null {
  const trimmed = value.trim();
  if (!MAC_INPUT.test(trimmed)) return null;
  const hex = trimmed.replace(/[^0-9A-Fa-f]/g, '').toLowerCase();
  return hex.match(/../g)!.join(':');
}

/** True when `value` is already in canonical form. */
export function isCanonicalMac(value: string): boolean {
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(value);
}

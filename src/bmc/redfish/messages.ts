/**
 * Turns Redfish error bodies into one readable line. A Redfish error is
 * `{error: {code, message, "@Message.ExtendedInfo": [{MessageId, Message, Resolution, ...}]}}`
 * (DSP0266 §9.6 "Error responses"); the extended info is what says what actually went wrong.
 */

interface ExtendedInfo {
  MessageId?: unknown;
  Message?: unknown;
  Resolution?: unknown;
  Severity?: unknown;
  MessageSeverity?: unknown;
}

function asInfoList(value: unknown): ExtendedInfo[] {
  return Array.isArray(value) ? value.filter((v): v is ExtendedInfo => typeof v === 'object' && v !== null) : [];
}

/** Short message id: `Base.1.8.PropertyValueNotInList` → `PropertyValueNotInList`. */
function shortId(id: unknown): string | null {
  if (typeof id !== 'string' || !id) return null;
  const parts = id.split('.');
  return parts[parts.length - 1] ?? id;
}

/**
 * The readable message of a Redfish error (or annotated success) body, or null when the body
 * carries no message. Generic wrappers ("A general error has occurred. See ExtendedInfo...") are
 * dropped in favour of the specific extended messages.
 */
export function redfishErrorMessage(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const root = body as Record<string, unknown>;
  const error = typeof root.error === 'object' && root.error !== null ? (root.error as Record<string, unknown>) : null;
  const infos = [...asInfoList(error?.['@Message.ExtendedInfo']), ...asInfoList(root['@Message.ExtendedInfo'])];
  const parts: string[] = [];
  for (const info of infos) {
    const text = typeof info.Message === 'string' ? info.Message.trim() : '';
    const id = shortId(info.MessageId);
    if (!text && !id) continue;
    let part = text || id!;
    if (text && id) part += ` (${id})`;
    if (typeof info.Resolution === 'string' && info.Resolution.trim() && !/^none\.?$/i.test(info.Resolution.trim())) {
      part += ` Resolution: ${info.Resolution.trim()}`;
    }
    if (!parts.includes(part)) parts.push(part);
  }
  if (parts.length > 0) return parts.join('; ');
  const message = typeof error?.message === 'string' ? error.message.trim() : '';
  const code = typeof error?.code === 'string' ? error.code : '';
  if (message) return code ? `${message} (${shortId(code)})` : message;
  if (code) return shortId(code);
  return null;
}

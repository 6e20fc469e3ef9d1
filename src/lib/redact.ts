const SECRET_QUERY_PARAMS = /([?&](?:code|hmac|sig|signature|state|token|id_token|session|purchaseId|charge_id)=)[^&]*/gi;

/** Query values that are credentials are replaced before a URL reaches the logs or Sentry. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY_PARAMS, '$1[redacted]');
}

/** Names of headers and fields whose values are credentials. */
export const SECRET_NAME = /authorization|cookie|token|secret|password|passwd|signature|hmac|session|api[-_]?key|x-shopify/i;

/**
 * `shopify app dev` (Shopify CLI 4.x, see shopify.web.toml) starts this app
 * with its own variable names: SHOPIFY_API_KEY, SHOPIFY_API_SECRET and PORT
 * (the same as ours), SCOPES, APP_URL (the tunnel's https URL, also sent as
 * HOST, which for us is the listen address), and APP_ENV=development. This
 * maps them to ours; a variable of ours that is set wins.
 */

const given = (v: string | undefined) => (v !== undefined && v.trim() !== '' ? v : undefined);
const isUrl = (v: string | undefined) => /^https?:\/\//i.test(v ?? '');

/** The app URL the CLI gave, when the process was started by `shopify app dev`. */
function cliAppUrl(source: NodeJS.ProcessEnv): string | undefined {
  return given(source.APP_URL) ?? (isUrl(source.HOST) ? source.HOST : undefined);
}

/** True when `shopify app dev` started the process (a development store and a tunnel, never production). */
export function startedByShopifyCli(source: NodeJS.ProcessEnv): boolean {
  return source.APP_ENV === 'development' && cliAppUrl(source) !== undefined;
}

export function fromShopifyCli(source: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...source,
    HOST: isUrl(source.HOST) ? undefined : source.HOST,
    BACKEND_URL: given(source.BACKEND_URL) ?? cliAppUrl(source),
    SHOPIFY_SCOPES: given(source.SHOPIFY_SCOPES) ?? given(source.SCOPES),
  };
}

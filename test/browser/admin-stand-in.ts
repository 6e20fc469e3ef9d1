/**
 * A stand-in for the Shopify admin and its App Bridge, for the embedded
 * browser tests. Chromium never reaches Shopify: the test answers
 * https://admin.shopify.com/store/{name}/apps/{apiKey}/... with a page that
 * frames the app (on http://localhost, another site, so the app's cookies are
 * third-party there), and https://cdn.shopify.com/shopifycloud/app-bridge.js
 * with the script below. As the real ones do, the admin issues the session
 * tokens (signed by the test with the app secret) and performs top-frame
 * navigation, and App Bridge in the frame asks the admin over postMessage.
 */
import type { BrowserContext } from 'playwright-core';

export const ADMIN_ORIGIN = 'https://admin.shopify.com';
const APP_BRIDGE_URL = 'https://cdn.shopify.com/shopifycloud/app-bridge.js';

/**
 * The frame's side: `shopify.idToken()`, `shopify.scopes.request()`,
 * `open(url, '_top')` (navigates the admin's window), and <ui-nav-menu>,
 * whose links the admin shows in its own navigation.
 */
const APP_BRIDGE_STAND_IN = `(() => {
  let seq = 0;
  const waiting = new Map();
  const ask = (method, args) => new Promise((resolve, reject) => {
    const id = ++seq;
    waiting.set(id, { resolve, reject });
    window.parent.postMessage({ type: 'app-bridge', id, method, args }, ${JSON.stringify(ADMIN_ORIGIN)});
  });
  window.addEventListener('message', (event) => {
    if (event.source !== window.parent || event.origin !== ${JSON.stringify(ADMIN_ORIGIN)}) return;
    const d = event.data || {};
    if (d.type === 'app-bridge-reply' && waiting.has(d.id)) {
      const w = waiting.get(d.id);
      waiting.delete(d.id);
      d.error ? w.reject(new Error(d.error)) : w.resolve(d.value);
    }
    if (d.type === 'app-bridge-nav') {
      const link = [...document.querySelectorAll('ui-nav-menu a')].find((a) => a.textContent.trim() === d.label);
      if (link) link.click();
    }
  });
  const nativeOpen = window.open.bind(window);
  window.open = (url, target, features) => {
    if (target !== '_top') return nativeOpen(url, target, features);
    void ask('navigate', [new URL(String(url), location.href).href]);
    return null;
  };
  window.shopify = {
    idToken: () => ask('idToken', []),
    scopes: { request: (scopes) => ask('scopesRequest', [scopes]), query: () => ask('scopesQuery', []) },
  };
  const sendMenu = () => {
    const labels = [...document.querySelectorAll('ui-nav-menu a')].map((a) => a.textContent.trim());
    void ask('menu', [labels]);
  };
  customElements.define('ui-nav-menu', class extends HTMLElement {
    connectedCallback() { new MutationObserver(sendMenu).observe(this, { childList: true, subtree: true, characterData: true }); sendMenu(); }
  });
})();`;

/** The admin's page: the app in an iframe, a navigation built from the app's <ui-nav-menu>. */
function adminPage(appUrl: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shopify admin (stand-in)</title>
<style>body{margin:0;font-family:sans-serif;display:grid;grid-template-columns:180px 1fr;height:100vh}
nav{background:#1a1a1a;padding:12px;display:grid;gap:6px;align-content:start}nav button{all:unset;color:#fff;padding:6px 8px;cursor:pointer}
iframe{border:0;width:100%;height:100%}</style></head>
<body><nav aria-label="Admin" id="admin-nav"></nav><main><iframe title="App" name="app-iframe" src="${appUrl}"></iframe></main>
<script>
  const frame = document.querySelector('iframe');
  const appOrigin = new URL(frame.src).origin;
  window.addEventListener('message', async (event) => {
    if (event.origin !== appOrigin || event.source !== frame.contentWindow) return;
    const { type, id, method, args } = event.data || {};
    if (type !== 'app-bridge') return;
    const reply = (value, error) => event.source.postMessage({ type: 'app-bridge-reply', id, value, error }, appOrigin);
    try {
      if (method === 'idToken') return reply(await window.issueSessionToken());
      if (method === 'navigate') { reply(true); window.location.href = args[0]; return; }
      if (method === 'menu') {
        const nav = document.getElementById('admin-nav');
        nav.replaceChildren(...args[0].map((label) => {
          const b = document.createElement('button');
          b.textContent = label;
          b.onclick = () => frame.contentWindow.postMessage({ type: 'app-bridge-nav', label }, appOrigin);
          return b;
        }));
        return reply(true);
      }
      if (method === 'scopesRequest') { window.scopesRequested = args[0]; return reply({ result: 'granted-all' }); }
      reply(null, 'unsupported: ' + method);
    } catch (err) { reply(null, String(err)); }
  });
</script></body></html>`;
}

export interface AdminStandIn {
  /** The admin URL of the app (its home, or a path inside it). */
  appPage(path?: string): string;
  tokensIssued(): number;
}

/**
 * Serves the admin and App Bridge in this browser context. `appBase` is the
 * app's URL (FRONTEND_URL); the admin appends the app path after
 * /apps/{apiKey} and the shop, host and embedded parameters, as Shopify does.
 */
export async function installAdminStandIn(
  context: BrowserContext,
  opts: { shop: string; apiKey: string; appBase: string; signSessionToken(shop: string): Promise<string> },
): Promise<AdminStandIn> {
  const store = opts.shop.replace(/\.myshopify\.com$/, '');
  const host = Buffer.from(`admin.shopify.com/store/${store}`).toString('base64url');
  let issued = 0;
  // Chromium asks before a public site frames a loopback one (Local Network Access); a real
  // admin frames a public app URL. Granting it is the only concession to the test's localhost.
  await context.grantPermissions(['local-network-access'], { origin: ADMIN_ORIGIN });
  await context.exposeBinding('issueSessionToken', async () => {
    issued++;
    return opts.signSessionToken(opts.shop);
  });
  await context.route(APP_BRIDGE_URL, (route) =>
    route.fulfill({ status: 200, contentType: 'text/javascript', body: APP_BRIDGE_STAND_IN }),
  );
  const prefix = `${ADMIN_ORIGIN}/store/${store}/apps/${opts.apiKey}`;
  await context.route(`${ADMIN_ORIGIN}/**`, (route) => {
    const url = new URL(route.request().url());
    if (!url.href.startsWith(prefix)) return route.fulfill({ status: 404, body: 'not the app' });
    const appUrl = new URL(opts.appBase + url.pathname.slice(new URL(prefix).pathname.length));
    for (const [k, v] of url.searchParams) appUrl.searchParams.set(k, v);
    appUrl.searchParams.set('shop', opts.shop);
    appUrl.searchParams.set('host', host);
    appUrl.searchParams.set('embedded', '1');
    return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: adminPage(appUrl.href) });
  });
  return {
    appPage: (path = '') => `${prefix}${path}`,
    tokensIssued: () => issued,
  };
}

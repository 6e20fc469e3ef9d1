import { AppProvider, Banner, Box, Frame, Navigation, SkeletonPage, TopBar } from '@shopify/polaris';
import type { LinkLikeComponentProps } from '@shopify/polaris/build/ts/src/utilities/link';
import en from '@shopify/polaris/locales/en.json';
import {
  CollectionIcon,
  CreditCardIcon,
  HomeIcon,
  ImageIcon,
  ProductIcon,
  SettingsIcon,
  UploadIcon,
} from '@shopify/polaris-icons';
import { lazy, type ReactNode, Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import { BrowserRouter, Link as RouterLink, Route, Routes, useLocation } from 'react-router';
import { type Account, AccountProvider } from './account';
import { api, ok } from './api/client';
import { ApiError, onRateLimitWait } from './api/http';
import { ErrorBanner } from './components/ErrorBanner';
import { appBridge, EMBEDDED, FRAMED } from './env';
import { LiveProvider, useLiveStatus } from './live/LiveProvider';
import { Home } from './pages/Home';
import { NotFound, OpenFromAdmin, PaymentPending, ReturnToAdmin, TopLevelRedirect } from './pages/Misc';
import { SignIn } from './pages/SignIn';

const Upload = lazy(() => import('./pages/Upload'));
const Products = lazy(() => import('./pages/Products'));
const Batches = lazy(() => import('./pages/Batches'));
const Gallery = lazy(() => import('./pages/Gallery'));
const Credits = lazy(() => import('./pages/Credits'));
const Settings = lazy(() => import('./pages/Settings'));

export const NAV = [
  { url: '/', label: 'Home', icon: HomeIcon, exactMatch: true },
  { url: '/upload', label: 'Upload', icon: UploadIcon },
  { url: '/products', label: 'Products', icon: ProductIcon },
  { url: '/batches', label: 'Batches', icon: CollectionIcon },
  { url: '/gallery', label: 'Gallery', icon: ImageIcon },
  { url: '/credits', label: 'Credits', icon: CreditCardIcon },
  { url: '/settings', label: 'Settings', icon: SettingsIcon },
];

/** Polaris links through the router, so in-app links never reload the page. */
function AppLink({ url, children, external, ...rest }: LinkLikeComponentProps) {
  if (external || /^[a-z]+:/i.test(url)) {
    return (
      <a href={url} target="_blank" rel="noopener noreferrer" {...rest}>
        {children}
      </a>
    );
  }
  return (
    <RouterLink to={url} {...rest}>
      {children}
    </RouterLink>
  );
}

export function App() {
  return (
    <BrowserRouter basename="/app">
      <AppProvider i18n={en} linkComponent={AppLink}>
        <Gate />
      </AppProvider>
    </BrowserRouter>
  );
}

/** What to show before the app proper: top-level pages, sign-in, the first load of the account. */
function Gate() {
  const { pathname } = useLocation();
  if (pathname === '/auth/toplevel') return <TopLevelRedirect />;
  if (EMBEDDED && !FRAMED) return <ReturnToAdmin />;
  if (EMBEDDED && !appBridge()) return <OpenFromAdmin />;
  return <Session />;
}

function Session() {
  const [state, setState] = useState<{ shop: string; credits: number } | { error: unknown } | null>(null);
  const load = useCallback(() => {
    ok(api.GET('/me')).then(
      (me) => setState({ shop: me.shop, credits: me.credits }),
      (error: unknown) => setState({ error }),
    );
  }, []);
  useEffect(load, [load]);

  const account = useMemo<Account | null>(
    () =>
      state && 'shop' in state
        ? {
            shop: state.shop,
            credits: state.credits,
            setCredits: (credits) => setState((s) => (s && 'shop' in s ? { ...s, credits } : s)),
            refresh: () =>
              void ok(api.GET('/credits/me')).then(
                ({ credits }) => setState((s) => (s && 'shop' in s ? { ...s, credits } : s)),
                () => undefined,
              ),
          }
        : null,
    [state],
  );

  if (!state) return <SkeletonPage title="Loading" primaryAction />;
  if ('error' in state) {
    if (!EMBEDDED && state.error instanceof ApiError && state.error.status === 401) return <SignIn onSignedIn={load} />;
    return (
      <Box padding="400">
        <ErrorBanner error={state.error} onRetry={load} />
      </Box>
    );
  }
  return (
    <AccountProvider value={account!}>
      <LiveProvider onSignedOut={() => setState({ error: new ApiError(401, { code: 'UNAUTHENTICATED' }) })}>
        <Shell shop={state.shop}>
          <Suspense fallback={<SkeletonPage />}>
            <Routes>
              <Route path="/" element={<Home />} />
              <Route path="/dashboard" element={<Home />} />
              <Route path="/upload" element={<Upload />} />
              <Route path="/products" element={<Products />} />
              <Route path="/batches" element={<Batches />} />
              <Route path="/gallery" element={<Gallery />} />
              <Route path="/credits" element={<Credits />} />
              <Route path="/settings" element={<Settings />} />
              <Route path="/payment-pending" element={<PaymentPending />} />
              <Route path="*" element={<NotFound />} />
            </Routes>
          </Suspense>
        </Shell>
      </LiveProvider>
    </AccountProvider>
  );
}

/**
 * Local mode: Polaris' frame with its own navigation. Embedded: the admin
 * draws the navigation from App Bridge's <ui-nav-menu>.
 */
function Shell({ shop, children }: { shop: string; children: ReactNode }) {
  const { pathname } = useLocation();
  const [mobileNav, setMobileNav] = useState(false);

  if (EMBEDDED) {
    return (
      <Frame>
        <ui-nav-menu>
          {NAV.map((item) => (
            <RouterLink key={item.url} to={item.url} {...(item.url === '/' ? { rel: 'home' } : {})}>
              {item.label}
            </RouterLink>
          ))}
        </ui-nav-menu>
        <Notices />
        {children}
      </Frame>
    );
  }
  const navigation = (
    <Navigation location={pathname}>
      <Navigation.Section
        title="Image Studio"
        items={NAV.map((item) => ({ ...item, onClick: () => setMobileNav(false) }))}
      />
    </Navigation>
  );
  const topBar = (
    <TopBar
      showNavigationToggle
      onNavigationToggle={() => setMobileNav((v) => !v)}
      userMenu={<TopBar.UserMenu name={shop} initials={shop.slice(0, 1).toUpperCase()} actions={[]} open={false} onToggle={() => undefined} />}
    />
  );
  return (
    <Frame navigation={navigation} topBar={topBar} showMobileNavigation={mobileNav} onNavigationDismiss={() => setMobileNav(false)}>
      <Notices />
      {children}
    </Frame>
  );
}

/** App-wide states: the event stream is reconnecting; requests wait for the rate limit. */
function Notices() {
  const status = useLiveStatus();
  const [waitUntil, setWaitUntil] = useState<number | null>(null);
  useEffect(() => onRateLimitWait(setWaitUntil), []);
  const reconnecting = status === 'reconnecting';
  if (!reconnecting && waitUntil === null) return null;
  return (
    <Box paddingInline="400" paddingBlockStart="400">
      {reconnecting && (
        <Banner tone="warning" title="Live updates interrupted">
          <p>Reconnecting… Statuses catch up as soon as the connection is back.</p>
        </Banner>
      )}
      {waitUntil !== null && (
        <Banner tone="info" title="Many requests at once">
          <p>The app is pacing its requests to your store’s limit and retries in a moment.</p>
        </Banner>
      )}
    </Box>
  );
}

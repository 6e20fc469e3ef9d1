import { Banner } from '@shopify/polaris';
import { useNavigate } from 'react-router';
import { describeError } from '../api/describe';
import { appBridge } from '../env';

/** An API error in words, with the action that fixes it (buy credits, grant access, retry). */
export function ErrorBanner({ error, onRetry, onDismiss }: { error: unknown; onRetry?: () => void; onDismiss?: () => void }) {
  const navigate = useNavigate();
  const d = describeError(error);
  let action: { content: string; onAction: () => void } | undefined;
  if (d.action === 'buy-credits') action = { content: 'Buy credits', onAction: () => navigate('/credits') };
  else if (d.action === 'grant-scopes' && appBridge()?.scopes) {
    action = {
      content: 'Grant access',
      onAction: () => void appBridge()!.scopes!.request(d.scopes ?? []).then(() => onRetry?.(), () => undefined),
    };
  } else if (d.action === 'reload') action = { content: 'Reload', onAction: () => window.location.reload() };
  else if (d.action === 'retry' && onRetry) action = { content: 'Try again', onAction: onRetry };
  return (
    <Banner title={d.title} tone={d.tone} {...(action ? { action } : {})} {...(onDismiss ? { onDismiss } : {})}>
      <p>{d.message}</p>
    </Banner>
  );
}

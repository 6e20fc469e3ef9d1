import {
  Banner,
  BlockStack,
  Button,
  Card,
  Checkbox,
  DropZone,
  InlineStack,
  Layout,
  Page,
  SkeletonBodyText,
  Text,
  TextField,
  Thumbnail,
} from '@shopify/polaris';
import { useState } from 'react';
import { api, type Json, ok } from '../api/client';
import { type AutoProcess, DEFAULT_FINISHING, type Finishing } from '../api/pending';
import { postForm } from '../api/upload';
import { ErrorBanner } from '../components/ErrorBanner';
import { ApplyChoice, FinishingFields, finishingValid, OperationChoice } from '../components/OperationFields';
import { useAction, useResource } from '../hooks';

/** The compat fields, plus `finishing` and `auto_process` where the server has them (docs/api.md). */
type Saved = Json<'/settings', 'get'> & { finishing?: Partial<Finishing>; auto_process?: AutoProcess };
const loadSettings = () => ok(api.GET('/settings')) as Promise<Saved>;

interface Draft {
  background_removal: boolean;
  optimize_images: boolean;
  finishing?: Finishing;
  auto_process?: AutoProcess;
}

const draftOf = (s: Saved): Draft => ({
  background_removal: s.background_removal,
  optimize_images: s.optimize_images,
  ...(s.finishing ? { finishing: { ...DEFAULT_FINISHING, ...s.finishing } } : {}),
  ...(s.auto_process ? { auto_process: s.auto_process } : {}),
});

export default function Settings() {
  const saved = useResource(loadSettings, []);
  // The edits; null until the first one, so the form shows what is saved.
  const [edits, setDraft] = useState<Draft | null>(null);
  const draft = edits ?? (saved.data ? draftOf(saved.data) : null);
  const saving = useAction();
  const [done, setDone] = useState(false);
  const dirty = !!saved.data && !!draft && JSON.stringify(draftOf(saved.data)) !== JSON.stringify(draft);
  const valid = !draft?.finishing || finishingValid(draft.finishing);

  const save = () =>
    draft &&
    saving.run(async () => {
      setDone(false);
      // The draft holds only the fields this server sent: it refuses unknown keys.
      const answer = await ok(api.POST('/settings', { body: draft }));
      saved.setData(() => answer.data as Saved);
      setDraft(null);
      setDone(true);
    });

  if (!draft) {
    return (
      <Page title="Settings">
        {saved.error !== undefined ? <ErrorBanner error={saved.error} onRetry={() => void saved.reload()} /> : <Card><SkeletonBodyText lines={6} /></Card>}
      </Page>
    );
  }
  const set = (patch: Partial<Draft>) => {
    setDone(false);
    setDraft({ ...draft, ...patch });
  };

  return (
    <Page
      title="Settings"
      primaryAction={{ content: 'Save', onAction: () => void save(), loading: saving.busy, disabled: !dirty || !valid }}
    >
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            {saving.error !== undefined && <ErrorBanner error={saving.error} onDismiss={saving.dismiss} />}
            {done && (
              <Banner tone="success" title="Settings saved" onDismiss={() => setDone(false)}>
                <p>New uploads and runs use them from now on.</p>
              </Banner>
            )}
            <Card>
              <BlockStack gap="300">
                <Text as="h2" variant="headingMd">
                  Defaults
                </Text>
                <Checkbox
                  label="Remove the background when an upload names no operation"
                  checked={draft.background_removal}
                  onChange={(background_removal) => set({ background_removal })}
                />
                <Checkbox
                  label="Optimize results"
                  helpText="Maximum lossless PNG compression; an upload without an operation is downscaled."
                  checked={draft.optimize_images}
                  onChange={(optimize_images) => set({ optimize_images })}
                />
              </BlockStack>
            </Card>
            {draft.finishing && (
              <Card>
                <BlockStack gap="300">
                  <Text as="h2" variant="headingMd">
                    Background removal finishing
                  </Text>
                  <Text as="p" tone="subdued">
                    Used for uploads, product edits and batches unless you choose otherwise there.
                  </Text>
                  <FinishingFields value={draft.finishing} onChange={(finishing) => set({ finishing })} />
                </BlockStack>
              </Card>
            )}
            {draft.auto_process && <Automation value={draft.auto_process} onChange={(auto_process) => set({ auto_process })} />}
            <InlineStack align="end">
              <Button variant="primary" onClick={() => void save()} loading={saving.busy} disabled={!dirty || !valid}>
                Save
              </Button>
            </InlineStack>
          </BlockStack>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <Avatar url={saved.data?.avatar_path ?? null} onUploaded={(url) => saved.setData((old) => old && { ...old, avatar_path: url })} />
        </Layout.Section>
      </Layout>
    </Page>
  );
}

function Automation({ value, onChange }: { value: AutoProcess; onChange(v: AutoProcess): void }) {
  const set = (patch: Partial<AutoProcess>) => onChange({ ...value, ...patch });
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">
          Automation
        </Text>
        <Checkbox
          label="Process new product images automatically"
          helpText="Each new image of a product is processed once, up to the daily cap; it pauses when credits run out."
          checked={value.enabled}
          onChange={(enabled) => set({ enabled })}
        />
        {value.enabled && (
          <BlockStack gap="300">
            <OperationChoice value={value.operation} onChange={(operation) => set({ operation })} />
            {value.operation === 'remove-bg' && (
              <FinishingFields value={{ ...DEFAULT_FINISHING, ...value.options }} onChange={(options) => set({ options })} />
            )}
            <ApplyChoice value={value.apply} onChange={(apply) => set({ apply })} />
            <TextField
              label="Daily cap (images)"
              type="number"
              min={0}
              autoComplete="off"
              value={String(value.daily_cap)}
              onChange={(v) => set({ daily_cap: Math.max(0, Math.floor(Number(v) || 0)) })}
            />
          </BlockStack>
        )}
      </BlockStack>
    </Card>
  );
}

function Avatar({ url, onUploaded }: { url: string | null; onUploaded(url: string): void }) {
  const uploading = useAction();
  const upload = (file: File) =>
    uploading.run(async () => {
      const form = new FormData();
      form.append('file', file, file.name);
      onUploaded((await postForm<{ url: string }>('/settings/avatar', form)).url);
    });
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">
          Avatar
        </Text>
        <InlineStack gap="300" blockAlign="center">
          {url ? <Thumbnail source={url} alt="Your avatar" size="large" /> : <Text as="p" tone="subdued">No avatar yet.</Text>}
        </InlineStack>
        {uploading.error !== undefined && <ErrorBanner error={uploading.error} onDismiss={uploading.dismiss} />}
        <DropZone
          label="Upload an avatar"
          accept="image/png,image/jpeg,image/webp"
          type="image"
          allowMultiple={false}
          disabled={uploading.busy}
          onDrop={(_all, accepted) => accepted[0] && void upload(accepted[0])}
        >
          <DropZone.FileUpload actionTitle={uploading.busy ? 'Uploading…' : 'Choose an image'} actionHint="PNG, JPEG or WebP, at most 2 MB" />
        </DropZone>
      </BlockStack>
    </Card>
  );
}

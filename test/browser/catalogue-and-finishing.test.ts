/**
 * Finishing in the dashboard (local mode): defaults saved in settings survive
 * a reload and prefill the upload form, and a remove-bg upload with a white
 * square JPEG finishing stores an opaque square JPEG.
 */
import { buffer } from 'node:stream/consumers';
import { sql } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/adapters/db/client.js';
import { chromiumAvailable } from './harness.js';
import { choose, localSession, type Session } from './scenarios.js';

const TIMEOUT = 300_000;

describe.runIf(chromiumAvailable)('finishing in local mode', () => {
  let s: Session;

  beforeAll(async () => {
    s = await localSession({ photos: 1 });
  }, TIMEOUT);
  afterAll(async () => {
    await s?.close();
  });

  it('saves finishing defaults in settings, and an upload uses them: an opaque white square', async () => {
    await s.ui.nav('Settings');
    await s.page.getByText('Background removal finishing').waitFor();
    await s.page.getByLabel('Background', { exact: true }).selectOption('white');
    await s.page.getByLabel('Framing', { exact: true }).selectOption('square');
    await s.page.getByLabel('File format', { exact: true }).selectOption('jpeg');
    await s.page.getByRole('button', { name: 'Save' }).first().click();
    await s.page.getByText('Settings saved').waitFor();
    await s.ui.reload();
    await s.ui.nav('Settings');
    expect(await s.page.getByLabel('Background', { exact: true }).inputValue()).toBe('white');

    await s.ui.nav('Upload');
    await choose(s.page, 'Remove background');
    expect(await s.page.getByLabel('Framing', { exact: true }).inputValue()).toBe('square'); // prefilled from settings
    await s.page.locator('input[type=file]').setInputFiles(s.files[0]!);
    await s.page.getByRole('button', { name: 'Upload 1 image (1 credit)' }).click();
    await s.page.locator('li.upload-row', { hasText: s.files[0]!.name }).getByText('Processed', { exact: true }).waitFor({ timeout: 60_000 });
    const [row] = await queryRows<{ processed_path: string }>(
      s.app.container.db,
      sql`select processed_path from images where status = 'processed' order by created_at desc limit 1`,
    );
    const result = await buffer((await s.app.container.storage.get(row!.processed_path)).body);
    const meta = await sharp(result).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.width).toBe(meta.height);
    const corner = await sharp(result).extract({ left: 0, top: 0, width: 1, height: 1 }).raw().toBuffer();
    expect([...corner].every((v) => v > 245)).toBe(true);
  }, TIMEOUT);
});

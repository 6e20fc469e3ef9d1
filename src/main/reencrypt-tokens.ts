import { openDatabase } from '../adapters/db/client.js';
import { createTokenCipher } from '../lib/token-cipher.js';
import { reencryptStoredTokens } from '../modules/shops/token-rotation.js';
import { configFromEnvironment } from './bootstrap.js';

/**
 * `npm run tokens:reencrypt` (or `node dist/main/reencrypt-tokens.js`): the last
 * step of a TOKEN_ENCRYPTION_KEY rotation (docs/runbook.md). Run it once every
 * process has the new key, with the old one in TOKEN_ENCRYPTION_KEY_PREVIOUS;
 * afterwards the old key can be dropped. Exits 1 when some token opens with no key.
 */
const config = configFromEnvironment();
const database = await openDatabase(config.database);
try {
  const cipher = createTokenCipher(config.tokenEncryptionKey, config.tokenEncryptionPreviousKeys);
  const report = await reencryptStoredTokens(database.db, cipher);
  process.stdout.write(
    `Stored tokens: ${report.reencrypted} shops re-encrypted with the current key, ${report.current} already were, ` +
      `${report.unreadable.length} unreadable with every configured key.\n`,
  );
  if (report.unreadable.length) {
    process.stderr.write(
      `Unreadable (left as they are; these shops are installed again by token exchange when next opened): ${report.unreadable.join(', ')}\n`,
    );
    process.exitCode = 1;
  }
} finally {
  await database.close();
}

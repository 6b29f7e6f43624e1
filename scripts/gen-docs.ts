/** Writes the generated reference docs. A test fails when the committed copies differ. */
import { writeFileSync } from 'node:fs';
import { renderConfigurationReference } from '../src/config/reference-doc.ts';
import { renderErrorsReference } from '../src/errors/reference-doc.ts';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigurationReference());
writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsReference());
console.log('wrote docs/configuration.md and docs/errors.md');

/** Writes the generated reference docs. A test fails when the committed copies differ. */
import { writeFileSync } from 'node:fs';
import { renderAuditEventsReference } from '../src/audit/reference-doc.ts';
import { renderConfigurationReference } from '../src/config/reference-doc.ts';
import { renderErrorsReference } from '../src/errors/reference-doc.ts';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigurationReference());
writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsReference());
writeFileSync(new URL('../docs/audit-events.md', import.meta.url), renderAuditEventsReference());
console.log('wrote docs/configuration.md, docs/errors.md and docs/audit-events.md');

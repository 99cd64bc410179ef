/** What several fault scenarios share: the service build they start. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to build/bench/faults/: the repository is three folders up, the service is dist/.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The service build a scenario starts: FAULTS_SERVICE_DIST (another build, e.g. an older release's dist/, to compare), else dist/. */
export const SERVICE_DIST = process.env['FAULTS_SERVICE_DIST'] ?? join(ROOT, 'dist');

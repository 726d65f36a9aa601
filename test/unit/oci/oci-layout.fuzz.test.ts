// Property tests of OCI image layouts (src/oci/oci-layout.ts; image-spec image-layout.md; docs/
// reliability.md "Fuzzing"): a layout directory whose `oci-layout` and `index.json` are hostile or
// mutated gives results or a VouchError from open, resolve and listReferrers, never another throw.

import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { computeDigest } from '../../../src/core/index.js';
import { MEDIA_TYPE } from '../../../src/oci/media-types.js';
import { OciLayoutSource } from '../../../src/oci/oci-layout.js';
import { checkAsyncProperty, fc, hostileJsonValue, hostileText, typedOutcomeAsync, withProtoMember } from '../../helpers/fuzz.js';
import { buildImage } from '../../helpers/oci-fixtures.js';

const image = buildImage();
const REF_NAME = 'org.opencontainers.image.ref.name';
const goodIndex = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPE.ociIndex,
  manifests: [{ ...image.descriptor, annotations: { [REF_NAME]: 'v1' } }],
};

const layoutFile = fc.oneof(
  fc.constant('{"imageLayoutVersion":"1.0.0"}'),
  hostileJsonValue.map((v) => JSON.stringify({ imageLayoutVersion: v }) ?? ''),
  hostileText,
);
const indexFile = fc.oneof(
  fc
    .tuple(fc.constantFrom('schemaVersion', 'mediaType', 'manifests'), hostileJsonValue)
    .map(([key, value]) => JSON.stringify({ ...goodIndex, [key]: value })),
  fc
    .tuple(hostileJsonValue, hostileText)
    .map(([value, name]) =>
      JSON.stringify({ ...goodIndex, manifests: [{ ...image.descriptor, annotations: { [REF_NAME]: name } }, value] }),
    ),
  hostileJsonValue.map((v) => withProtoMember(JSON.stringify(goodIndex), JSON.stringify(v) ?? '1')),
  hostileText,
);
const reference = fc.oneof(fc.constantFrom('v1', image.descriptor.digest, `example.com/app:v1`, `sha256:${'0'.repeat(64)}`), hostileText);

let root: string;
test.before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'vouch-layout-fuzz-'));
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
test('OciLayoutSource: hostile oci-layout and index.json give results or a VouchError', async (t) => {
  await checkAsyncProperty(
    t,
    [layoutFile, indexFile, reference],
    async (layout, index, ref) => {
      const dir = path.join(root, String(n++));
      await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
      await writeFile(path.join(dir, 'oci-layout'), layout);
      await writeFile(path.join(dir, 'index.json'), index);
      await writeFile(path.join(dir, 'blobs', 'sha256', computeDigest(image.bytes).slice(7)), image.bytes);
      const opened = await typedOutcomeAsync(() => OciLayoutSource.open(dir));
      if ('value' in opened) {
        await typedOutcomeAsync(() => opened.value.resolve(ref));
        await typedOutcomeAsync(() => opened.value.listReferrers(image.descriptor.digest));
      }
      await rm(dir, { recursive: true, force: true });
    },
    0.3,
  );
});

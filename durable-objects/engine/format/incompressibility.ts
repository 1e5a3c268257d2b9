/**
 * Whether content looks incompressible, judged from its bytes: the first SAMPLE_BYTES of an
 * object are deflated, and a sample that deflate cannot shrink by a tenth counts as
 * incompressible (encrypted or random content, but also JPEG, video and archives: which is why
 * the mass-change alert compares a backup's share with the bucket's own trailing median, never
 * with a fixed figure). `compressibility.ts` guesses from names and types, for choosing gzip; this
 * measures, for noticing a bucket whose new content has suddenly turned to noise.
 *
 * CPU budget: one sample of at most 4 KiB per object whose content is new to the store, so at
 * most 400 KiB deflated per step of 100 objects: about 10 ms of CPU, timed alone in workerd (0.1
 * ms a sample, whether fed through a Blob and a Response or by a writer). A CPU profile of a whole
 * local backup attributes several times that to it (docs/performance.md).
 */
export const SAMPLE_BYTES = 4096;
/** Below this a sample says little (deflate's own overhead dominates): not judged. */
const MIN_SAMPLE_BYTES = 512;
/** Deflated to more than this share of its size: incompressible. */
const INCOMPRESSIBLE_RATIO = 0.9;

/** True or false for a sample large enough to judge; null otherwise (the object is not counted). */
export async function looksIncompressible(sample: Uint8Array): Promise<boolean | null> {
  if (sample.byteLength < MIN_SAMPLE_BYTES) return null;
  const bytes = sample.subarray(0, SAMPLE_BYTES);
  try {
    // Bounded: the deflated form of at most SAMPLE_BYTES bytes.
    const deflated = await new Response(
      new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate-raw")),
    ).arrayBuffer();
    return deflated.byteLength > INCOMPRESSIBLE_RATIO * bytes.byteLength;
  } catch (error) {
    // An estimate must never fail a backup: the object is simply not judged (and the log says why).
    console.error("sampling an object's compressibility failed; it is not judged", error);
    return null;
  }
}

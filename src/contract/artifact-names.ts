/**
 * Names of result arrays (artifacts). They become file paths (the CLI's `--out` directory, the service's
 * `results/<job id>/`) and URL path parameters, so every name is checked against one safe form: 1 to
 * MAX_ARTIFACT_DEPTH segments joined by "/", each a letter or digit followed by letters, digits, "_" or "-" and at
 * most one extension. That rules out "..", ".", absolute paths, backslashes, control characters and empty segments.
 * Names derived from a model (its layer names are the uploader's strings) go through {@link artifactSegment}.
 */

/** One path segment: what the artifact store accepts as a file or directory name. */
export const ARTIFACT_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,100}(\.[A-Za-z0-9]{1,10})?$/;

/** Segments in a nested name such as `kfac/0-dense/A.npy`. */
export const MAX_ARTIFACT_DEPTH = 4;

/** True for a name every writer may join under its output directory. */
export function isSafeArtifactName(name: string): boolean {
  const segments = name.split('/');
  return segments.length <= MAX_ARTIFACT_DEPTH && segments.every((s) => ARTIFACT_SEGMENT.test(s));
}

/** Characters of a model-derived name kept in a segment (the rest become "_"). */
const SEGMENT_KEEP = 64;

/**
 * A safe directory segment for the `index`-th item named `name` by a model: `<index>-<name>` with every character
 * outside [A-Za-z0-9_-] replaced by "_" and the name cut to its first 64 characters. The index keeps segments
 * distinct when two names sanitize alike, and starts the segment with a digit.
 */
export function artifactSegment(index: number, name: string): string {
  const cleaned = Array.from(name)
    .slice(0, SEGMENT_KEEP)
    .map((ch) => (/^[A-Za-z0-9_-]$/.test(ch) ? ch : '_'))
    .join('');
  return `${index}-${cleaned || '_'}`;
}

/** How {@link artifactSegment} maps names, in words (for summaries and docs). */
export const ARTIFACT_SEGMENT_RULE =
  '<index>-<name>: the index counts the items in order from 0; in the name every character outside ' +
  '[A-Za-z0-9_-] becomes "_" and only its first 64 characters are kept';

/** Whether gzip is worth trying: already-compressed formats (images, archives, video) are skipped. */

const COMPRESSED_TYPES = [
  /^image\/(?!svg|bmp|x-icon|tiff)/,
  /^video\//,
  /^audio\//,
  /^font\/woff2?$/,
  /^application\/(zip|gzip|x-gzip|x-7z-compressed|x-rar-compressed|x-bzip2|x-xz|zstd|pdf|vnd\.rar|x-tar\+gzip|octet-stream\+gzip)/,
];
const COMPRESSED_EXTENSIONS = new Set([
  "zip",
  "gz",
  "tgz",
  "bz2",
  "xz",
  "zst",
  "7z",
  "rar",
  "jpg",
  "jpeg",
  "png",
  "gif",
  "webp",
  "avif",
  "heic",
  "mp4",
  "mov",
  "mkv",
  "webm",
  "mp3",
  "aac",
  "ogg",
  "flac",
  "woff",
  "woff2",
  "pdf",
  "docx",
  "xlsx",
  "pptx",
]);

export function isCompressible(key: string, contentType: string | undefined): boolean {
  if (contentType && COMPRESSED_TYPES.some((pattern) => pattern.test(contentType.toLowerCase()))) return false;
  const extension = /\.([A-Za-z0-9]+)$/.exec(key)?.[1]?.toLowerCase();
  return !(extension && COMPRESSED_EXTENSIONS.has(extension));
}

/** A file the user recorded or picked, ready to upload. */
export interface MediaChoice {
  blob: Blob;
  filename: string;
  /** What it holds: a photo counts as the face too. */
  kind: "audio" | "video" | "image";
  source: "recorded" | "uploaded";
}

/** The kind of a picked file from its MIME type (or name, when the browser gives none). */
export function kindOfFile(file: File): MediaChoice["kind"] {
  if (file.type.startsWith("image/")) return "image";
  if (file.type.startsWith("audio/")) return "audio";
  if (file.type.startsWith("video/")) return "video";
  return /\.(png|jpe?g|webp|gif|bmp|tiff?|heic)$/i.test(file.name) ? "image" : "video";
}

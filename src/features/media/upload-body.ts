/**
 * Reading an upload: the body is counted while it streams and refused (413) the moment it passes the
 * limit, so a huge or endless body costs at most the limit. Accepts multipart/form-data (field
 * `file`, optional `purpose` and `visibility`) or a raw image body (options in the query string).
 */
import { DomainError } from "../../lib/errors";

export interface UploadLimits {
  /** Largest file accepted. */
  fileBytes: number;
  /** Largest request body: the file plus room for the multipart envelope. */
  bodyBytes: number;
}

export interface UploadBody {
  file: Uint8Array;
  /** Text fields from the multipart form, or the query string for a raw body. */
  fields: Record<string, string>;
}

function tooLarge(limit: number): DomainError {
  return new DomainError("payload-too-large", `The file must not exceed ${limit} bytes.`, { limitBytes: limit });
}

/** Reads `stream` fully, refusing as soon as more than `limit` bytes have arrived. */
export async function readCapped(stream: ReadableStream<Uint8Array> | null, limit: number, reported = limit) {
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(reported);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

export async function readUpload(request: Request, limits: UploadLimits): Promise<UploadBody> {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > limits.bodyBytes) throw tooLarge(limits.fileBytes);
  const contentType = request.headers.get("Content-Type") ?? "";
  const body = await readCapped(request.body, limits.bodyBytes, limits.fileBytes);

  let upload: UploadBody;
  if (/^multipart\/form-data\s*;/i.test(contentType)) {
    let form: FormData;
    try {
      form = await new Response(body, { headers: { "Content-Type": contentType } }).formData();
    } catch {
      throw new DomainError("bad-request", "The multipart body could not be parsed.");
    }
    const file = form.get("file");
    if (file === null || typeof file === "string") {
      throw new DomainError("validation-failed", "A file is required.", {
        errors: [{ path: "file", message: "required (a file part)" }],
      });
    }
    const fields: Record<string, string> = {};
    for (const name of ["purpose", "visibility"]) {
      const value = form.get(name);
      if (typeof value === "string") fields[name] = value;
    }
    upload = { file: new Uint8Array(await file.arrayBuffer()), fields };
  } else {
    const query = new URL(request.url).searchParams;
    const fields: Record<string, string> = {};
    for (const name of ["purpose", "visibility"]) {
      const value = query.get(name);
      if (value !== null) fields[name] = value;
    }
    upload = { file: body, fields };
  }
  if (upload.file.length > limits.fileBytes) throw tooLarge(limits.fileBytes);
  if (upload.file.length === 0) {
    throw new DomainError("validation-failed", "A file is required.", { errors: [{ path: "file", message: "empty" }] });
  }
  return upload;
}

/**
 * The narrow views of R2 the steps use (restic's small interfaces): a unit test passes a plain
 * fake with just these methods; integration tests pass the real bindings.
 */
export type SourceReader = Pick<R2Bucket, "list" | "head" | "get">;
export type BlobStore = Pick<R2Bucket, "head" | "get" | "put" | "createMultipartUpload" | "resumeMultipartUpload">;
export type RestoreTarget = Pick<R2Bucket, "head" | "get" | "put" | "createMultipartUpload" | "resumeMultipartUpload">;

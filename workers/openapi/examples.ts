/**
 * Examples for the OpenAPI document, in the shapes of resources.ts (a test parses each one with its
 * route's success schema, so an example cannot drift from the shape it illustrates).
 */

export const backup = {
  id: "bk_01JD8Z3T4K6W2M9Q7R5X1C0V8B",
  bucketName: "cutty-files",
  type: "incremental",
  status: "completed",
  trigger: "cron",
  requestedBy: "cron",
  parentId: "bk_01JD6E1R0P2N7K5H3F9D8S4A2Q",
  backupDate: "2026-12-01T02:00:00.112Z",
  startedAt: "2026-12-01T02:00:00.340Z",
  completedAt: "2026-12-01T02:00:41.905Z",
  fileCount: 212,
  totalSize: 48_211_550,
  snapshotFileCount: 2012,
  snapshotSize: 181_404_117,
  deletedCount: 3,
  failedCount: 0,
  bytesUploaded: 31_775_012,
  checksum: "9f2b5c0e8a7d4c1b3e6f0a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b",
  error: null,
  lastVerifiedAt: "2026-12-01T03:10:12.000Z",
  lastVerificationValid: true,
  lastVerificationMode: "full",
  lastVerificationSamplePercent: 100,
  replicaStatus: "complete",
  replicaCompletedAt: "2026-12-01T02:01:12.480Z",
  hold: null,
  template: "default",
  progress: { phase: "done", filesProcessed: 2012, bytesProcessed: 48_211_550 },
  performance: {
    durationSeconds: 41.57,
    objectsPerSecond: 48.4,
    megabytesPerSecond: 1.16,
    steps: 23,
    retries: 0,
    bytesRead: 48_211_550,
    bytesUploaded: 31_775_012,
    storedBytes: 31_902_388,
  },
};

const job = {
  backupId: backup.id,
  status: "completed",
  requestedBy: "alice",
  createdAt: "2026-12-01T09:14:03.000Z",
  startedAt: "2026-12-01T09:14:03.210Z",
  completedAt: "2026-12-01T09:14:19.880Z",
  error: null,
  performance: { durationSeconds: 16.67, objectsPerSecond: 120.7, steps: 21, retries: 0 },
};

export const verifyJob = {
  ...job,
  id: "job_01JD9A0B1C2D3E4F5G6H7J8K9M",
  kind: "verify",
  progress: { filesProcessed: 2012, filesTotal: 2012 },
  result: { valid: true, copy: "primary", filesChecked: 2012, filesMissing: 0, checksumMismatches: 0, problems: [] },
};

export const replicateJob = {
  ...job,
  id: "job-replicate-bk_01JD8Z3T4K6W2M9Q7R5X1C0V8B",
  kind: "replicate",
  progress: { filesProcessed: 2012, filesTotal: 2012 },
  result: {
    complete: true,
    objectsCopied: 231,
    bytesCopied: 31_802_114,
    objectsPresent: 1_805,
    problemCount: 0,
    problems: [],
  },
};

export const restoreJob = {
  ...job,
  id: "job_01JD9A4N5P6Q7R8S9T0V1W2X3Y",
  kind: "restore",
  progress: { filesProcessed: 18, filesTotal: 18 },
  result: {
    filesRestored: 18,
    filesSkipped: 0,
    filesFailed: 0,
    bytesRestored: 4_718_231,
    verified: true,
    verifyFailures: 0,
    filesFromReplica: 0,
    chunksFromReplica: 0,
    dryRun: false,
    failures: [],
  },
};

export const cleanupJob = {
  ...job,
  id: "job_01JD9B0C1D2E3F4G5H6J7K8M9N",
  kind: "cleanup",
  backupId: null,
  requestedBy: "ops",
  progress: { filesProcessed: 4, filesTotal: 4 },
  result: {
    backupsExpired: 4,
    backupIdsExpired: ["bk_01JC..."],
    blobsDeleted: 311,
    bytesFreed: 92_114_003,
    dryRun: false,
  },
};

export const snapshotFile = {
  path: "uploads/2026/11/invoice-1042.pdf",
  size: 183_220,
  checksum: "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
  lastModified: "2026-11-28T14:02:11.000Z",
  contentType: "application/pdf",
};

export const snapshotChange = {
  path: snapshotFile.path,
  change: "modified",
  before: {
    ...snapshotFile,
    size: 181_004,
    checksum: "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab",
  },
  after: snapshotFile,
};

export const keyVersions = [
  {
    checksum: snapshotFile.checksum,
    size: snapshotFile.size,
    lastModified: snapshotFile.lastModified,
    contentType: snapshotFile.contentType,
    firstBackupId: "bk-20261129T020000Z-7c1d22a0",
    firstSeen: "2026-11-29T02:00:00.000Z",
    lastBackupId: "bk-20261201T020000Z-1f0e9b3c",
    lastSeen: "2026-12-01T02:00:00.000Z",
    deletedAt: "2026-12-02T02:00:00.000Z",
    backupIds: ["bk-20261201T020000Z-1f0e9b3c", "bk-20261130T020000Z-5a2b81e4", "bk-20261129T020000Z-7c1d22a0"],
  },
];

export const logEntry = {
  timestamp: "2026-12-01T02:00:12.004Z",
  eventType: "progress",
  level: "info",
  message: "step 4: 100 objects, 2.1 MB read, 1.4 MB uploaded",
  requestedBy: "cron",
};

export const alert = {
  id: "al_01JD9C2D3E4F5G6H7J8K9M0N1P",
  code: "consecutive_failures",
  severity: "critical",
  bucketName: "cutty-files",
  message: "3 backups of cutty-files failed in a row; the last: source bucket unreachable",
  openedAt: "2026-12-01T04:00:00.000Z",
  resolvedAt: null,
  resolution: null,
  details: { failures: 3, lastBackupId: backup.id },
};

export const massChangeAlert = {
  id: "al_01JDB7Q2W8E4R5T6Y7U8I9O0P1",
  code: "mass_change",
  severity: "critical",
  bucketName: "cutty-files",
  message:
    "Backup bk_01JDB7N0M2K4J6H8G0F2D4S6A8 of cutty-files: 612 modified and 0 deleted of 1000 objects (61.2%; trailing median 2%); 598 of 612 sampled new objects do not compress (97.7%; trailing median 3.1%); most changes under reports/ 540, invoices/ 72. Every backup older than bk_01JDB7N0M2K4J6H8G0F2D4S6A8 is held from expiry until this alert is resolved (POST /api/backup/alerts/:id/resolve, effective after BACKUP_HOLD_RELEASE_DELAY_HOURS).",
  openedAt: "2026-12-03T02:04:00.000Z",
  resolvedAt: null,
  resolution: {
    requestedBy: "alice",
    requestedAt: "2026-12-03T09:30:00.000Z",
    takesEffectAt: "2026-12-04T09:30:00.000Z",
  },
  details: {
    backupId: "bk_01JDB7N0M2K4J6H8G0F2D4S6A8",
    backupDate: "2026-12-03T02:00:00.000Z",
    scope: "backup",
    measures: ["changes", "incompressible"],
    modified: 612,
    deleted: 0,
    baseline: 1000,
    changedShare: 0.612,
    changedMedian: 0.02,
    sampled: 612,
    incompressible: 598,
    incompressibleShare: 0.977,
    incompressibleMedian: 0.031,
    topPrefixes: [
      { prefix: "reports/", changes: 540 },
      { prefix: "invoices/", changes: 72 },
    ],
  },
};

export const auditEvent = {
  id: 1042,
  at: "2026-12-01T09:14:03.000Z",
  actor: "alice",
  action: "backup.restore",
  target: restoreJob.id,
  outcome: "accepted",
  status: 202,
  detail: null,
};

export const stats = {
  totalBackups: 31,
  completedBackups: 30,
  failedBackups: 1,
  expiredBackups: 0,
  successRate: 96.77,
  lastBackupDate: backup.backupDate,
  lastSuccessfulBackupDate: backup.backupDate,
  consecutiveFailures: 0,
  averageDurationSeconds: 44.1,
  logicalBytes: 5_442_123_510,
  storedBytes: 402_118_044,
  dedupRatio: 13.53,
  alerts: [],
  storage: {
    source: "measured",
    measuredAt: "2026-12-01T02:05:00.000Z",
    measuredBy: cleanupJob.id,
    measuredBytes: 398_004_211,
    writtenSinceBytes: 4_113_833,
  },
  webhooks: { pending: 0, failed: 0, lastProblem: null },
  buckets: [{ bucketName: "cutty-files" }],
  schedule: { schedule: "daily", lastRun: null },
  protection: { heldBackups: 1, releasesPending: 0, retentionLockDays: 7, massChangeHolds: [] },
  unprotectedChanges: { keys: 3, oldestAt: "2026-12-01T09:13:41.000Z", overflow: false },
};

export const template = {
  name: "finance-reports",
  builtIn: false,
  sourceBinding: "R2_BUCKET",
  bucketName: "cutty-files",
  includePrefixes: ["reports/"],
  excludePrefixes: ["reports/tmp/"],
  schedule: "hourly",
  retentionDays: 90,
  keep: { last: 24, daily: 30, weekly: 12, monthly: 24 },
  compression: true,
  encryption: false,
  createdAt: "2026-12-01T09:12:00.000Z",
  updatedAt: "2026-12-01T09:12:00.000Z",
  updatedBy: "admin@example.com",
};

/** A backup under a legal hold, and the same once its release has been asked for. */
export const heldBackup = {
  ...backup,
  hold: { by: "alice", at: "2026-12-03T09:00:00.000Z", reason: "litigation 2026-17", releaseAt: null },
};
export const releasingBackup = { ...heldBackup, hold: { ...heldBackup.hold, releaseAt: "2026-12-08T09:00:00.000Z" } };

/**
 * The dashboard in a real browser (headless Chromium driven by playwright-core) against a real
 * local server: sign in, start a backup and watch it finish, browse its files, preview and run a
 * restore, see an alert. Screenshots of the main pages go to
 * SCREENSHOT_DIR (`npm run screenshots` refreshes docs/screenshots/).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { startLocalServer, type LocalServer } from "../helpers/local-server";
// @ts-expect-error: a plain .mjs script without types
import { apiClient } from "../../scripts/local-stack.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** `npm run screenshots` sets this to docs/screenshots; otherwise they go to a scratch folder. */
const SHOTS = process.env.SCREENSHOT_DIR ?? join(tmpdir(), "r2-backup-screenshots");

let server: LocalServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install Debian's chromium package (.ci/run does) or set CHROMIUM_PATH.`,
    );
  // Small test backups: growth is judged by the factor alone against the last 3 backups, so one
  // that stores new manifest chunks after three unchanged ones opens storage_growth (the alert
  // this test looks for).
  // Full backups fan out over 3 shards (120 objects, at least 40 a shard): the first one's page
  // shows them, and everything after it (verify, files, restore) reads the joined snapshot.
  server = await startLocalServer({
    files: 120,
    vars: {
      BACKUP_ALERT_GROWTH_MIN_BYTES: "0",
      BACKUP_ALERT_GROWTH_FACTOR: "2",
      BACKUP_ALERT_GROWTH_WINDOW: "3",
      BACKUP_MAX_SHARDS: "3",
      BACKUP_SHARD_MIN_OBJECTS: "40",
      BACKUP_SHARD_POLL_MS: "200",
      // mass_change from 20 changed objects on (the last test rewrites a third of the bucket).
      BACKUP_ALERT_MASS_CHANGE_MIN_OBJECTS: "20",
    },
  });
  client = apiClient(server.port, await server.token("backup:admin"));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

// vitest's expect has no locator matchers: these wait the way Playwright's would.
const shown = (locator: Locator, timeout = 15_000) => locator.first().waitFor({ state: "visible", timeout });
const textOf = (locator: Locator, timeout = 15_000) =>
  expect.poll(
    async () =>
      (await locator
        .first()
        .textContent({ timeout: 1000 })
        .catch(() => "")) ?? "",
    { timeout },
  );
const attributeOf = (locator: Locator, name: string, timeout = 15_000) =>
  expect.poll(
    () =>
      locator
        .first()
        .getAttribute(name, { timeout: 1000 })
        .catch(() => null),
    { timeout },
  );

async function openPage(viewport = { width: 1280, height: 900 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  // Nothing may be fetched from anywhere but the server itself.
  page.on("request", (request) => {
    if (!request.url().startsWith(server.url) && !request.url().startsWith("data:"))
      problems.push(`external request: ${request.url()}`);
  });
  (page as Page & { problems: string[] }).problems = problems;
  return page;
}

const problemsOf = (page: Page) => (page as Page & { problems: string[] }).problems.filter((p) => !/401|403/.test(p));

async function signIn(page: Page, token: string) {
  await page.goto(`${server.url}/`);
  await page.getByLabel("API token (JWT)").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** The scripts' API client (scripts/local-stack.mjs) with an admin token: call, and backup(type) to its end. */
let client: {
  call: (method: string, path: string, body?: unknown) => Promise<any>;
  backup: (type: string) => Promise<any>;
};

describe("the dashboard", () => {
  it("refuses a token that is not a JWT, an expired one, and a valid one without read scope", async () => {
    const page = await openPage();
    await signIn(page, "not-a-token");
    await textOf(page.getByRole("alert")).toContain("not a JWT");
    await signIn(page, await server.token("backup:admin", { expiresAt: Math.floor(Date.now() / 1000) - 120 }));
    await textOf(page.getByRole("alert")).toContain("expired");
    const writeOnly = await server.token("backup:write");
    await signIn(page, writeOnly);
    await textOf(page.getByRole("alert")).toContain("lacks the backup:read scope");
    expect(await page.evaluate<number>("sessionStorage.length")).toBe(0); // a refused token is not kept
    expect(page.url()).not.toContain(writeOnly.slice(0, 20));
    await page.close();
  });

  it("signs in, starts a backup and watches it finish, browses its files, previews and runs a restore, and shows an alert", async () => {
    const page = await openPage();
    const token = await server.token("backup:admin", { subject: "alice" });
    await signIn(page, token);
    await shown(page.getByRole("heading", { name: "Backups" }));
    await textOf(page.locator(".session")).toContain("alice");
    // Kept in session storage only, never in the URL or local storage.
    expect(await page.evaluate<string[]>("Object.values(sessionStorage)")).toContain(token);
    expect(await page.evaluate<number>("localStorage.length")).toBe(0);
    expect(page.url()).not.toContain(token.slice(0, 20));

    // Start a full backup and watch the list refresh until it completes.
    // The start form and the filters are labelled apart.
    expect(await page.getByLabel("Show type").count()).toBe(1);
    await page.getByLabel("New backup type").selectOption("full");
    await page.getByRole("button", { name: "Start backup" }).click();
    await shown(page.getByText(/Backup bk-.* \(full\) started/));
    const row = page.locator("tbody tr").first();
    await attributeOf(row, "data-status", 60_000).toBe("completed");
    await page.screenshot({ path: `${SHOTS}/backups.png` });
    const fullId = (await row.getAttribute("data-backup-id"))!;

    // Three incrementals of unchanged content store nothing new: the history the growth alert
    // judges the backup after the restore by.
    for (let i = 0; i < 3; i++) expect((await client.backup("incremental")).performance.storedBytes).toBe(0);

    // A sampled verification: the page says it was one.
    const verifyJob = (await client.call("POST", `/backup/verify/${fullId}`, { samplePercent: 10 })).job;
    await expect
      .poll(async () => (await client.call("GET", `/backup/jobs/${verifyJob.id}`)).job.status, { timeout: 60_000 })
      .toBe("completed");

    // The full backup's page: figures, log and the snapshot's folders.
    await page.getByRole("link", { name: fullId }).click();
    await textOf(page.getByRole("heading", { name: /Backup bk-/ })).toContain("completed");
    await textOf(page.locator("dl.figures")).toMatch(/Last verified.*: valid \(full, 10 % sample\)/);
    await textOf(page.locator("ol.logs")).toContain("Backup completed");
    // Its three shards, each with its key range, all completed.
    const shardRows = page.locator('table[aria-labelledby="shards-title"] tbody tr');
    await attributeOf(shardRows.nth(2), "data-status").toBe("completed");
    expect(await shardRows.count()).toBe(3);
    await textOf(shardRows.first()).toContain("first key");
    const folders = page.locator("table.files tr.folder");
    await shown(folders.first());
    const folderName = (await folders.first().getByRole("button").textContent())!.replace(/\/$/, "");
    // A folder's object count has its own column; Modified is for files.
    expect(await page.locator("table.files thead th").allTextContents()).toEqual([
      "Name",
      "Objects",
      "Size",
      "Modified",
      "Type",
      "",
    ]);
    expect(await folders.first().locator("td").nth(1).textContent()).toMatch(/^(≥ )?\d[\d,]*$/);
    expect(await folders.first().locator("td").nth(3).textContent()).toBe("");
    await folders.first().getByRole("button").click();
    await textOf(page.locator("nav.crumbs")).toContain(folderName);
    await shown(page.locator("table.files tbody tr").first());
    await page.screenshot({ path: `${SHOTS}/backup.png`, fullPage: true });

    // Restore that folder under restored/: the preview lists what would be written; then run it.
    const expected = await client.call(
      "GET",
      `/backup/files/${fullId}?prefix=${encodeURIComponent(`${folderName}/`)}&limit=1000`,
    );
    const count = expected.files.length;
    expect(count).toBeGreaterThan(0);
    await page.getByLabel("Only keys under (prefix)").fill(`${folderName}/`);
    await page.getByLabel("Restore under (target prefix)").fill("restored/");
    const runButton = page.getByRole("button", { name: /Run restore|Restore \d+ objects/ });
    expect(await runButton.isDisabled()).toBe(true); // nothing runs before a preview
    await page.getByRole("button", { name: "Preview (dry run)" }).click();
    const preview = page.locator('[data-testid="restore-preview"]');
    await textOf(preview, 60_000).toContain(`Would write ${count} objects`);
    await textOf(preview.locator("li").first()).toContain(`${folderName}/`);
    expect(await runButton.isEnabled()).toBe(true);
    await runButton.click();
    await textOf(page.locator('[data-testid="restore-result"]'), 60_000).toContain(`Restored ${count} objects`);

    // The next incremental stores the restored keys' manifest chunks: storage_growth opens.
    const latest = await client.backup("incremental");
    const restored = await client.call("GET", `/backup/files/${latest.id}?prefix=restored/&limit=1000`);
    expect(restored.files.map((f: { path: string }) => f.path)).toEqual(
      expected.files.map((f: { path: string }) => `restored/${f.path}`),
    );

    // Its page shows what changed since its parent: the restored keys, added.
    await page.goto(`${server.url}/#/backups/${encodeURIComponent(latest.id)}`);
    const changes = page.locator('[data-testid="changes"]');
    await shown(changes.locator("tbody tr").first(), 30_000);
    await textOf(changes.locator("p.hint")).toContain(latest.parentId);
    await expect.poll(() => changes.locator("tbody tr").count()).toBe(Math.min(count, 100));
    expect(await changes.locator('tbody tr:not([data-change="added"])').count()).toBe(0);
    expect(await changes.locator("td.path").first().textContent()).toMatch(/^restored\//);

    await page.getByRole("link", { name: "Health" }).click();
    await shown(page.locator('li.alert[data-code="storage_growth"]'), 20_000);
    await textOf(page.locator('[data-testid="success-rate"]')).toContain("100");
    await shown(page.locator("figure.chart svg").first());
    // One card of charts per template: here only the default's backups exist.
    expect(
      await page
        .locator("section[data-template]")
        .evaluateAll((cards) => cards.map((c) => c.getAttribute("data-template"))),
    ).toEqual(["default"]);
    await page.screenshot({ path: `${SHOTS}/health.png`, fullPage: true });

    // Cleanup: a preview first, and the run button only after it.
    await page.getByLabel("Keep the newest").fill("2");
    await page.getByLabel("Keep backups younger than (days)").fill("0");
    await page.getByRole("button", { name: "Preview (dry run)" }).click();
    await textOf(page.locator('[data-testid="cleanup-preview"]'), 60_000).toContain("Would expire");
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it("downloads an object from the file browser, and each of its versions from the versions panel", async () => {
    const write = (content: string) =>
      client.call("POST", "/dev/source-writes", {
        writes: [{ key: "notes/plan.txt", content, contentType: "text/plain" }],
      });
    await write("first plan");
    await client.backup("incremental");
    await write("second, better plan");
    const latest = await client.backup("incremental");

    const page = await openPage();
    await signIn(page, await server.token("backup:admin"));
    await shown(page.getByRole("heading", { name: "Backups" }));
    await page.goto(`${server.url}/#/backups/${encodeURIComponent(latest.id)}`);
    await page.locator("table.files tr.folder").getByRole("button", { name: "notes/" }).click();
    const saved = async (button: Locator) => {
      const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
      return { name: download.suggestedFilename(), text: readFileSync((await download.path())!, "utf8") };
    };
    expect(await saved(page.getByRole("button", { name: "Download notes/plan.txt" }))).toEqual({
      name: "plan.txt",
      text: "second, better plan",
    });
    await textOf(page.locator('[data-testid="object-status"]')).toContain("checked against its SHA-256");

    await page.getByRole("button", { name: "Versions of notes/plan.txt" }).click();
    const versions = page.locator('[data-testid="versions"] tbody tr');
    await expect.poll(() => versions.count(), { timeout: 15_000 }).toBe(2);
    expect((await saved(versions.nth(1).getByRole("button", { name: "Download" }))).text).toBe("first plan");
    await page.screenshot({ path: `${SHOTS}/versions.png`, fullPage: true });
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it("places a legal hold and asks for its release; shows a mass_change alert and its hold, and lets an admin ask for its resolution and cancel it", async () => {
    // A third of the bucket rewritten before one backup: far above its history of almost nothing.
    const before = await client.backup("incremental");
    const listed = await client.call("GET", `/backup/files/${before.id}?limit=1000`);
    const keys = (listed.files as { path: string }[]).map((f) => f.path).slice(0, Math.ceil(listed.files.length / 3));
    await client.call("POST", "/dev/source-writes", {
      writes: keys.map((key) => ({ key, content: `encrypted ${key}`, contentType: "text/plain" })),
    });
    const attack = await client.backup("incremental");

    const page = await openPage();
    await signIn(page, await server.token("backup:admin"));
    await shown(page.getByRole("heading", { name: "Backups" }));
    // A legal hold on the backup before the attack: placed, its release asked for, then cancelled.
    await page.goto(`${server.url}/#/backups/${encodeURIComponent(before.id)}`);
    await page.getByRole("button", { name: "Place legal hold" }).click();
    await shown(page.getByText(/held since .* by /));
    await page.getByRole("button", { name: "Release hold" }).click();
    await shown(page.getByText(/release takes effect/));
    await page.getByRole("button", { name: "Cancel the release" }).click();
    await shown(page.getByRole("button", { name: "Release hold" }));
    expect((await client.call("GET", `/backup/status/${before.id}`)).backup.hold).toMatchObject({ releaseAt: null });

    await page.getByRole("link", { name: "Health" }).click();
    const alert = page.locator('li.alert[data-code="mass_change"]');
    await shown(alert, 20_000);
    await textOf(alert).toContain(`Backup ${attack.id}`);
    await textOf(alert).toContain("Older backups are held from cleanup until this alert is resolved.");
    await textOf(page.locator('[data-testid="protection"]')).toContain("(mass change)");

    await alert.getByRole("button", { name: "Resolve (takes effect after the delay)" }).click();
    await textOf(alert).toContain("Resolution asked for by");
    await page.screenshot({ path: `${SHOTS}/mass-change.png`, fullPage: true });
    await alert.getByRole("button", { name: "Cancel the resolution" }).click();
    await textOf(alert).toContain("Older backups are held from cleanup until this alert is resolved.");
    const [open] = (await client.call("GET", "/backup/alerts?state=open")).alerts.filter(
      (a: { code: string }) => a.code === "mass_change",
    );
    expect(open).toMatchObject({ resolution: null, details: { backupId: attack.id } });
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it("offers only what the token's scopes allow, and works on a phone-sized screen", async () => {
    const page = await openPage({ width: 390, height: 844 });
    await signIn(page, await server.token("backup:read", { subject: "viewer" }));
    await shown(page.getByRole("heading", { name: "Backups" }));
    expect(await page.getByRole("button", { name: "Start backup" }).count()).toBe(0);
    // Filters: no backup here was started by events; all of them through the API.
    await page.getByLabel("Show trigger").selectOption("event");
    await textOf(page.locator("main")).toContain("No backups match.");
    await page.getByLabel("Show trigger").selectOption("api");
    await shown(page.locator("tbody tr a"));
    // The backups table fits the screen: each row a card of labelled cells, its type in view.
    const table = page.locator(".table-wrap").first();
    expect(await table.evaluate((wrap) => wrap.scrollWidth - wrap.clientWidth)).toBeLessThanOrEqual(0);
    const typeCell = page.locator('tbody tr td[data-label="Type"]').first();
    expect(await typeCell.isVisible()).toBe(true);
    const box = (await typeCell.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    await page.locator("tbody tr a").first().click();
    await shown(page.getByRole("heading", { name: "Files" })); // drawn with the actions, after the status
    expect(await page.getByRole("button", { name: "Verify" }).count()).toBe(0);
    expect(await page.getByRole("heading", { name: "Restore" }).count()).toBe(0);
    // Nothing wider than the screen but the tables, which scroll inside their own box.
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${SHOTS}/phone-backup.png`, fullPage: true });
    await page.getByRole("button", { name: "Sign out" }).click();
    await shown(page.getByRole("heading", { name: "Sign in" }));
    expect(await page.evaluate<number>("sessionStorage.length")).toBe(0);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it("shows the sign-in hint's command as code, the button on its own line, and unknown addresses as not found", async () => {
    const page = await openPage();
    await page.goto(`${server.url}/`);
    expect(await page.locator("#token-hint code").textContent()).toBe("npm run token -- --scope backup:admin");
    expect(await page.locator("#token-hint").textContent()).not.toContain("`");
    const hint = (await page.locator("#token-hint").boundingBox())!;
    const button = (await page.getByRole("button", { name: "Sign in" }).boundingBox())!;
    expect(button.y).toBeGreaterThanOrEqual(hint.y + hint.height);

    await page.getByLabel("API token (JWT)").fill(await server.token("backup:read"));
    await page.getByRole("button", { name: "Sign in" }).click();
    await shown(page.getByRole("heading", { name: "Backups" }));
    for (const hash of ["#/nonsense", "#/backup/bk-1", "#/backups/%E0%A4%A"]) {
      await page.goto(`${server.url}/${hash}`);
      await shown(page.locator('[data-testid="not-found"]'));
      expect(page.url()).toContain(hash); // not silently sent elsewhere
    }
    await page.getByRole("link", { name: "← Back to the backups" }).click();
    await shown(page.getByRole("heading", { name: "Backups" }));
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it("returns to sign-in with a message when the token expires while the page is open", async () => {
    const page = await openPage();
    await signIn(page, await server.token("backup:read", { expiresAt: Math.floor(Date.now() / 1000) + 4 }));
    await shown(page.getByRole("heading", { name: "Backups" }));
    await shown(page.getByRole("heading", { name: "Sign in" }), 15_000);
    await textOf(page.locator(".notice")).toMatch(/expired/i);
    await page.close();
  });
});

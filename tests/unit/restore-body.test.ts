import { describe, expect, it } from "vitest";
import { HttpError } from "../../workers/http-error";
import { validate } from "../../workers/request-body";
import { restoreBody } from "../../workers/schemas";

function message(body: unknown): string {
  try {
    validate(restoreBody, body, "body");
  } catch (error) {
    if (error instanceof HttpError) return error.message;
    throw error;
  }
  throw new Error("expected a validation error");
}

describe("restore body", () => {
  it("fills defaults and normalises filters", () => {
    expect(
      validate(
        restoreBody,
        { filters: { fileExtensions: [".CSV", "csv", "Txt"], dateRange: { start: "2024-01-01", end: "2024-01-31" } } },
        "body",
      ),
    ).toEqual({
      overwriteExisting: false,
      verifyAfterRestore: false,
      dryRun: false,
      targetPrefix: "",
      filters: {
        pathPrefix: "",
        fileExtensions: ["csv", "txt"],
        dateRange: { start: "2024-01-01T00:00:00.000Z", end: "2024-01-31T23:59:59.999Z" },
      },
    });
    expect(
      validate(restoreBody, { filters: { dateRange: { start: "2024-01-01T10:00:00+02:00" } } }, "body").filters
        .dateRange,
    ).toEqual({
      start: "2024-01-01T08:00:00.000Z",
    });
  });

  it.each([
    [{ targetPrefix: "/x/" }, "targetPrefix must not start with /"],
    [{ targetPrefix: "a/../b/" }, "targetPrefix must not contain . or .. segments"],
    [{ filters: { dateRange: { start: "2024-02-30" } } }, "filters.dateRange.start is not a valid date: 2024-02-30"],
    [
      { filters: { dateRange: { start: "2024-02-02", end: "2024-02-01" } } },
      "filters.dateRange start must not be after end",
    ],
    [{ filters: { fileExtensions: [] } }, "filters.fileExtensions must list at least one extension"],
    [{ overwrite: true }, "body has unknown field: overwrite"],
  ])("explains %o", (body, expected) => {
    expect(message(body)).toBe(expected);
  });
});

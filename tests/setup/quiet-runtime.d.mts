/** Drops the runtime's expected noise from this process's stdout and stderr (quiet-runtime.mjs). */
export function quietExpectedRuntimeLines(): void;

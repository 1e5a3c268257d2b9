export declare const WEBHOOK_TEST_SECRET: string;
declare module "vitest" {
  export interface ProvidedContext {
    webhookPort: number;
  }
}

/** The config plugins may read besides their own `plugins.<name>` block (see `ConfigReads`). @module */

/**
 * Config outside `plugins.<name>` that a plugin may ask for, by where it lives: the global `databases`
 * (named connection URLs) and the detector's `custom_enrichment_data` (the original Blitz's
 * Elasticsearch queries). Nothing else is shared: tokens, keys and SMTP credentials never reach a plugin.
 */
export const SHAREABLE_CONFIG = {
  global: ["databases"],
  detector: ["custom_enrichment_data"],
} as const;

-- Flywheel.Cache index: CI identity through OIDC (PostgreSQL).
-- Append-only: never edit a script once released; add a new dated one.
-- SQLite twin: the same text.
--
-- oidc_trust_policies: per cache, which OIDC issuer and audience, and which claims (JSON [[name, glob], ...]), may
--   exchange an ID token for a token with these scopes, living at most ttl_seconds. Only issuers named here are fetched.
-- token_identities: the verified identity (issuer, subject, the policy that matched, the source claims as JSON)
--   a token minted by an exchange carries; a promotion made with the token records it as verified provenance.

CREATE TABLE oidc_trust_policies (
    id          TEXT    NOT NULL PRIMARY KEY,
    cache_id    BIGINT  NOT NULL REFERENCES caches (id) ON DELETE CASCADE,
    issuer      TEXT    NOT NULL,
    audience    TEXT    NOT NULL,
    claims      TEXT    NOT NULL,
    scopes      INTEGER NOT NULL,
    ttl_seconds BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE INDEX oidc_trust_policies_cache ON oidc_trust_policies (cache_id);

CREATE TABLE token_identities (
    token_id  TEXT NOT NULL PRIMARY KEY REFERENCES tokens (id) ON DELETE CASCADE,
    issuer    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    claims    TEXT NOT NULL
);

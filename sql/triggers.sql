-- Triggers (re-applied by every upgrade: CREATE OR REPLACE TRIGGER).

-- Settings changed by hand (UPDATE intentlog.domains ...) reach every
-- backend's cache: the trigger invalidates them all. A new domain does too:
-- the maintenance workers and wait_for_intents keep the list of domains.
CREATE OR REPLACE TRIGGER domains_changed AFTER INSERT OR UPDATE OR DELETE ON intentlog.domains
  FOR EACH STATEMENT EXECUTE FUNCTION intentlog._domains_changed();

-- Any change to the registry reaches every backend's domain cache (the
-- current version, stamped on appends) and its parsed schemas.
CREATE OR REPLACE TRIGGER schemas_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON intentlog.schemas
  FOR EACH STATEMENT EXECUTE FUNCTION intentlog._domains_changed();


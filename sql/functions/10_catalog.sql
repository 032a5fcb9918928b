-- Catalog triggers' functions.

-- Settings changed by hand (UPDATE intentlog.domains ...) reach every
-- backend's cache: the trigger invalidates them all.
CREATE OR REPLACE FUNCTION intentlog._domains_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM intentlog._invalidate('intentlog.domains'::regclass);
  RETURN NULL;
END $$;


CREATE OR REPLACE FUNCTION intentlog.library_version()
RETURNS text LANGUAGE c STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intentlog_library_version';
COMMENT ON FUNCTION intentlog.library_version() IS
  'Version of the loaded shared library (intentlog.so). It should be the installed extension''s (pg_extension.extversion): after installing a new intentlog, restart the server and run ALTER EXTENSION intentlog UPDATE in each database.';

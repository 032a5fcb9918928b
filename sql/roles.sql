-- Roles are cluster-wide: create them once, reuse them in every database.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intentlog_writer') THEN
    CREATE ROLE intentlog_writer NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intentlog_consumer') THEN
    CREATE ROLE intentlog_consumer NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intentlog_admin') THEN
    CREATE ROLE intentlog_admin NOLOGIN;
  END IF;
END
$roles$;

-- Koppel schema 0002: helpers for the staff and partners endpoints.

-- Whether a caller may read staff member sid: coordinators and coaches see
-- everyone when their prg claim is "*", otherwise themselves and the staff
-- who work in at least one programme of their claim.
CREATE FUNCTION staff_visible(sid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT role IN ('coordinator', 'coach') AND (all_prg OR sid = sub OR EXISTS (
    SELECT 1 FROM staff_programmes sp WHERE sp.staff_id = sid AND sp.programme_id = ANY(prg)))
$$;

-- Makes the programmes of staff member sid exactly wanted, touching only the
-- rows that change (so the audit log names real changes). True if any did.
CREATE FUNCTION staff_set_programmes(sid uuid, wanted uuid[]) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  removed integer;
  added integer;
BEGIN
  DELETE FROM staff_programmes WHERE staff_id = sid AND programme_id <> ALL(wanted);
  GET DIAGNOSTICS removed = ROW_COUNT;
  INSERT INTO staff_programmes (staff_id, programme_id)
    SELECT sid, w FROM unnest(wanted) AS w ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS added = ROW_COUNT;
  RETURN removed + added > 0;
END $$;

-- Whether a caller may read partner pid: staff and researchers see every
-- partner (partners are organisation-wide), an integration client only its own.
CREATE FUNCTION partner_visible(pid uuid, role text, partner uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN role IN ('coordinator', 'coach', 'researcher') THEN true
    WHEN role = 'integration' THEN coalesce(pid = partner, false)
    ELSE false END
$$;
